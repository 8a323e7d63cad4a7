/* testutil: scratch directories and files for the Check suites. */
#include "config.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

const char test_services_ini[] = "[service data-collection]\nport = 8002\n";

char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/dcproxy-test-XXXXXX",
		 base != NULL && *base ? base : "/tmp");
	if (mkdtemp(tmpl) == NULL)
		abort();
	return strdup(tmpl);
}

char *
test_write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	if (strncmp(name, "operations.d/", 13) == 0) {
		snprintf(path, sizeof path, "%s/operations.d", dir);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	return strdup(path);
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
	     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
test_rmdir(char *dir)
{
	if (dir != NULL)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

unsigned short
test_closed_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		abort();
	close(fd);
	return ntohs(addr.sin_port);
}
