/* testutil: scratch directories and files for the Check suites. */
#ifndef DCPROXY_TESTUTIL_H
#define DCPROXY_TESTUTIL_H

/* Create a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *
test_tmpdir(void);

/* Write text to dir/name (creating dir/operations.d when name starts with
 * "operations.d/"); returns a malloc'd path. */
char *
test_write_file(const char *dir, const char *name, const char *text);

/* rm -r dir and free it. */
void
test_rmdir(char *dir);

/* A loopback TCP port nothing listens on: bound, read, then closed. */
unsigned short
test_closed_port(void);

/* The in-tree registry's service section, for tests that write their own
 * operation sections: "[service data-collection]\nport = 8002\n". */
extern const char test_services_ini[];

#endif
