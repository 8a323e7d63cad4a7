/* dcproxy-standin: the stand-in data-collection service as a program, for
 * the demo, the benchmark and shell-driven fault injection.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "standin.h"

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
			fprintf(stderr, "dcproxy-standin: bad port '%s'\n", arg);
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

	struct standin *s = standin_start_port(port);
	if (s == NULL) {
		fprintf(stderr, "dcproxy-standin: cannot listen on 127.0.0.1:%u\n",
			(unsigned)port);
		return 1;
	}
	printf("%s\n", standin_url(s));
	fflush(stdout);

	int sig;
	while (sigwait(&stop, &sig) != 0)
		;
	standin_stop(s);
	return 0;
}
