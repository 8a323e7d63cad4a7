/* dcproxy-lambda-emulator: the Lambda Runtime API emulator as a program,
 * for layer tests, benchmarks and shell scripts that run the real
 * bootstrap against it.
 */
#include "config.h"

#include <stdio.h>

#include "lambda_emulator.h"
#include "server_main.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: dcproxy-lambda-emulator [--port N]\n"
		"Serves the AWS Lambda Runtime API (2018-06-01) on 127.0.0.1 (an\n"
		"ephemeral port unless --port), prints 127.0.0.1:PORT (the value\n"
		"for AWS_LAMBDA_RUNTIME_API) as its first line, and runs until\n"
		"SIGINT or SIGTERM.  Control endpoints:\n"
		"  POST /_emulator/invoke[?budget_ms=N&trace_id=X&repeat=N]  the\n"
		"       event as the body; waits for the runtime and answers\n"
		"       {\"request_id\",\"kind\":\"response\"|\"error\",\"body\":<posted\n"
		"       JSON>,\"error_type\"}, with repeat also \"count\", \"errors\"\n"
		"       and \"wall_ms\"; 504 with \"kind\":\"timeout\" when the runtime\n"
		"       does not answer within budget_ms (default 180000) + 10 s\n"
		"  GET  /_emulator/init-error  404 until the runtime reports one,\n"
		"       then {\"body\":<posted JSON>,\"error_type\"}\n"
		"  GET  /_emulator/stats  {\"next_calls\",\"first_next_ms\",\n"
		"       \"invocations\"}\n");
}

static void *
start(unsigned short port)
{
	return lambda_emulator_start_port(port);
}

static const char *
address(void *server)
{
	return lambda_emulator_endpoint(server);
}

static void
stop(void *server)
{
	lambda_emulator_stop(server);
}

int
main(int argc, char **argv)
{
	static const struct server_program program = {
		"dcproxy-lambda-emulator", usage, start, address, stop,
	};
	return server_main(&program, argc, argv);
}
