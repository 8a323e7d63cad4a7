/* loader: finding, opening and checking operation plugins with libltdl.
 *
 * A refusal always names the file, the reason and the fix.  libltdl keeps
 * process-wide state: loader_init and loader_exit bracket the engine's life
 * and the engine serialises loads.
 */
#ifndef DCPROXY_LOADER_H
#define DCPROXY_LOADER_H

#include <stddef.h>
#include "dcproxy/plugin.h"
#include "registry.h"

struct loaded_plugin {
	void *handle;                   /* lt_dlhandle */
	const struct dcp_plugin *desc;
	char *path;                     /* the file opened */
	void *state;                    /* from desc->init */
};

int
loader_init(void);

void
loader_exit(void);

/* Find op's plugin in the colon-separated search path, open it, check its
 * descriptor and run its init.  Returns 0, or -1 with the reason in err. */
int
loader_open(struct loaded_plugin *lp, const struct reg_operation *op,
	    const char *search_path, const struct dcp_host *host,
	    const dcp_operation *handle, char *err, size_t errlen);

/* Run the plugin's fini and close it. */
void
loader_close(struct loaded_plugin *lp);

/* The file a plugin name resolves to in the search path, for display; the
 * first candidate when none exists.  Writes to path. */
void
loader_locate(const char *plugin, const char *search_path, char *path,
	      size_t pathlen);

#endif
