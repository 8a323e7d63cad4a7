/* loader: finding, opening and checking operation plugins with libltdl. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ltdl.h>

#include "loader.h"

int
loader_init(void)
{
	return lt_dlinit() == 0 ? 0 : -1;
}

void
loader_exit(void)
{
	lt_dlexit();
}

/* A file a plugin could be: anything but a directory (libltdl would say
 * "file not found" of one). */
static bool
is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* loader_locate, also saying whether the file exists: one stat() per
 * directory tried, so loader_open needs no second look. */
static bool
locate(const char *plugin, const char *search_path, char *path,
       size_t pathlen)
{
	if (strchr(plugin, '/') != NULL) {
		snprintf(path, pathlen, "%s", plugin);
		return is_file(path);
	}
	path[0] = '\0';
	const char *dir = search_path;
	while (dir != NULL) {
		const char *end = strchr(dir, ':');
		int dirlen = end != NULL ? (int)(end - dir) : (int)strlen(dir);
		if (dirlen > 0) {
			char candidate[4096];
			snprintf(candidate, sizeof candidate, "%.*s/%s.so", dirlen,
				 dir, plugin);
			bool found = is_file(candidate);
			if (path[0] == '\0' || found)
				snprintf(path, pathlen, "%s", candidate);
			if (found)
				return true;
		}
		dir = end != NULL ? end + 1 : NULL;
	}
	return false;
}

void
loader_locate(const char *plugin, const char *search_path, char *path,
	      size_t pathlen)
{
	(void)locate(plugin, search_path, path, pathlen);
}

/* Every key in the operation's section must be one the plugin reads. */
static int
check_settings(const struct reg_operation *op, const struct dcp_plugin *desc,
	       const char *path, char *err, size_t errlen)
{
	for (size_t i = 0; i < op->n_settings; i++) {
		const struct reg_setting *s = &op->settings[i];
		bool known = false;
		for (const char *const *k = desc->settings; k && *k && !known; k++)
			known = strcmp(*k, s->key) == 0;
		if (!known) {
			char accepted[512] = "";
			size_t n = 0;
			for (const char *const *k = desc->settings; k && *k; k++)
				n += (size_t)snprintf(accepted + n,
						      n < sizeof accepted ? sizeof accepted - n : 0,
						      "%s%s", n ? ", " : "", *k);
			snprintf(err, errlen,
				 "%s:%d: unknown setting '%s' for plugin %s (it accepts: %s)",
				 op->file, s->line, s->key, path,
				 accepted[0] ? accepted : "none");
			return -1;
		}
	}
	return 0;
}

static int
check_descriptor(const struct dcp_plugin *desc, const char *path, char *err,
		 size_t errlen)
{
	if (desc->abi_major != DCP_ABI_MAJOR || desc->abi_minor > DCP_ABI_MINOR) {
		snprintf(err, errlen,
			 "%s: plugin wants ABI %u.%u, dcproxy provides %d.%d: "
			 "rebuild it against dcproxy-dev %d.%d",
			 path, desc->abi_major, desc->abi_minor, DCP_ABI_MAJOR,
			 DCP_ABI_MINOR, DCP_ABI_MAJOR, DCP_ABI_MINOR);
		return -1;
	}
	/* The smallest descriptor each minor of this major may have; a later
	 * minor appends fields, so only this floor is checked. */
	static const uint32_t min_size[DCP_ABI_MINOR + 1] = {
		[0] = sizeof(struct dcp_plugin),
	};
	if (desc->size < min_size[desc->abi_minor]) {
		snprintf(err, errlen,
			 "%s: descriptor is %u bytes, ABI %u.%u needs %u: "
			 "rebuild it against dcproxy-dev %d.%d",
			 path, desc->size, desc->abi_major, desc->abi_minor,
			 min_size[desc->abi_minor], DCP_ABI_MAJOR, DCP_ABI_MINOR);
		return -1;
	}
	if (desc->name == NULL || desc->name[0] == '\0') {
		snprintf(err, errlen, "%s: descriptor has no name: fix the plugin",
			 path);
		return -1;
	}
	return 0;
}

int
loader_open(struct loaded_plugin *lp, const struct reg_operation *op,
	    const char *search_path, const struct dcp_host *host,
	    const dcp_operation *handle, char *err, size_t errlen)
{
	char path[4096];
	memset(lp, 0, sizeof *lp);
	if (!locate(op->plugin, search_path, path, sizeof path)) {
		struct stat st;
		if (strchr(op->plugin, '/') != NULL)
			snprintf(err, errlen,
				 "%s: %s: install the plugin or fix 'plugin' at %s:%d",
				 path,
				 stat(path, &st) == 0 ? "is a directory, not a plugin"
						      : "no such file",
				 op->file, op->line);
		else
			snprintf(err, errlen,
				 "%s.so: not found in %s: install the plugin or set DCPROXY_PLUGIN_PATH",
				 op->plugin, search_path);
		return -1;
	}

	lt_dladvise advise;
	lt_dlhandle h = NULL;
	if (lt_dladvise_init(&advise) == 0) {
		lt_dladvise_local(&advise); /* plugins never see each other */
		h = lt_dlopenadvise(path, advise);
		lt_dladvise_destroy(&advise);
	}
	if (h == NULL) {
		const char *why = lt_dlerror();
		snprintf(err, errlen,
			 "%s: cannot be loaded (%s): check it was built for this system and its libraries are installed",
			 path, why != NULL ? why : "unknown error");
		return -1;
	}

	const struct dcp_plugin *desc = lt_dlsym(h, DCP_PLUGIN_SYMBOL);
	if (desc == NULL) {
		snprintf(err, errlen,
			 "%s: does not export '%s': not a dcproxy plugin, or not built with dcproxy/plugin.h",
			 path, DCP_PLUGIN_SYMBOL);
		lt_dlclose(h);
		return -1;
	}
	if (check_descriptor(desc, path, err, errlen) != 0 ||
	    check_settings(op, desc, path, err, errlen) != 0) {
		lt_dlclose(h);
		return -1;
	}

	void *state = NULL;
	if (desc->init != NULL) {
		char why[256] = "";
		if (desc->init(host, handle, &state, why, sizeof why) != DCP_OK) {
			snprintf(err, errlen, "%s: init failed: %s", path,
				 why[0] ? why : "no reason given");
			lt_dlclose(h);
			return -1;
		}
	}

	lp->path = strdup(path);
	if (lp->path == NULL) {
		if (desc->fini != NULL)
			desc->fini(state);
		lt_dlclose(h);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	lp->handle = h;
	lp->desc = desc;
	lp->state = state;
	return 0;
}

void
loader_close(struct loaded_plugin *lp)
{
	if (lp->handle == NULL)
		return;
	if (lp->desc->fini != NULL)
		lp->desc->fini(lp->state);
	lt_dlclose(lp->handle);
	free(lp->path);
	memset(lp, 0, sizeof *lp);
}
