/* dcproxy-standin: the stand-in data-collection service as a program, for
 * the demo, the benchmark and shell-driven fault injection.
 */
#include "config.h"

#include <stdio.h>

#include "standin.h"
#include "server_main.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: dcproxy-standin [--port N]\n"
		"Serves a stand-in data-collection API on 127.0.0.1 (an ephemeral\n"
		"port unless --port), prints its URL on one line, and runs until\n"
		"SIGINT or SIGTERM.  Faults: POST /_standin/fault with\n"
		"{\"status\":503}, {\"status\":200,\"body\":\"...\"}, {\"delay_ms\":N}\n"
		"or {\"drop\":true}; GET /_standin/requests; POST /_standin/reset.\n");
}

static void *
start(unsigned short port)
{
	return standin_start_port(port);
}

static const char *
address(void *server)
{
	return standin_url(server);
}

static void
stop(void *server)
{
	standin_stop(server);
}

int
main(int argc, char **argv)
{
	static const struct server_program program = {
		"dcproxy-standin", usage, start, address, stop,
	};
	return server_main(&program, argc, argv);
}
