/* server_main: the main() of the tests' server programs (the stand-in
 * service, the Runtime API emulator): [--port N], print the address, serve
 * until SIGINT or SIGTERM.
 */
#ifndef DCPROXY_TEST_SERVER_MAIN_H
#define DCPROXY_TEST_SERVER_MAIN_H

#include <stdio.h>

struct server_program {
	const char *name;                         /* for messages */
	void (*usage)(FILE *out);
	void *(*start)(unsigned short port);      /* 0: any; NULL on failure */
	const char *(*address)(void *server);     /* printed as the first line */
	void (*stop)(void *server);
};

int
server_main(const struct server_program *p, int argc, char **argv);

#endif
