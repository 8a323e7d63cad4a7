/* dcproxy-lambda-emulator: the Lambda Runtime API emulator as a program,
 * for layer tests, benchmarks and shell scripts that run the real
 * bootstrap against it.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda_emulator.h"

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

static int
parse_port(const char *text, unsigned short *port)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno != 0 || value < 0 ||
	    value > USHRT_MAX)
		return -1;
	*port = (unsigned short)value;
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned short port = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(arg, "--port") == 0 && i + 1 < argc)
			arg = argv[++i];
		else if (strncmp(arg, "--port=", 7) == 0)
			arg += 7;
		else {
			usage(stderr);
			return 2;
		}
		if (parse_port(arg, &port) != 0) {
			fprintf(stderr, "dcproxy-lambda-emulator: bad port '%s'\n",
				arg);
			return 2;
		}
	}

	/* Blocked before any thread starts, so only sigwait sees them; reset
	 * first, as a shell starts background jobs with SIGINT ignored and an
	 * ignored signal is discarded even while blocked. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct lambda_emulator *e = lambda_emulator_start_port(port);
	if (e == NULL) {
		fprintf(stderr,
			"dcproxy-lambda-emulator: cannot listen on 127.0.0.1:%u\n",
			(unsigned)port);
		return 1;
	}
	printf("%s\n", lambda_emulator_endpoint(e));
	fflush(stdout);

	int sig;
	while (sigwait(&stop, &sig) != 0)
		;
	lambda_emulator_stop(e);
	return 0;
}
