/* server_main: argument parsing and the signal wait the server programs
 * share.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "server_main.h"

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
server_main(const struct server_program *p, int argc, char **argv)
{
	unsigned short port = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			p->usage(stdout);
			return 0;
		}
		if (strcmp(arg, "--port") == 0 && i + 1 < argc)
			arg = argv[++i];
		else if (strncmp(arg, "--port=", 7) == 0)
			arg += 7;
		else {
			p->usage(stderr);
			return 2;
		}
		if (parse_port(arg, &port) != 0) {
			fprintf(stderr, "%s: bad port '%s'\n", p->name, arg);
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

	void *server = p->start(port);
	if (server == NULL) {
		fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u\n", p->name,
			(unsigned)port);
		return 1;
	}
	printf("%s\n", p->address(server));
	fflush(stdout);

	int sig;
	while (sigwait(&stop, &sig) != 0)
		;
	p->stop(server);
	return 0;
}
