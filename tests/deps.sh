# Sourced by the top-level scripts: install the Debian packages dcproxy needs
# to build and test, skipping what is already there.
DCPROXY_DEPS="autoconf automake libtool libltdl-dev pkg-config make gcc
 libcurl4-openssl-dev libcjson-dev libinih-dev libssl-dev check libmicrohttpd-dev libhiredis-dev curl jq perl redis-server prometheus
 openssl groff-base mandoc"

install_deps() {
	missing=""
	for pkg in $DCPROXY_DEPS "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "run as root, or install these packages first:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Run configure from the current build directory.  Autoconf's clean-up runs
# "rm -f core", which complains about the core/ source directory on every
# check; only that line is dropped from what it prints.
configure_build() {
	log=$(mktemp)
	if ! "$top/configure" -q "$@" 2>"$log"; then
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	grep -v "^rm: cannot remove 'core': Is a directory" "$log" >&2 || true
	rm -f "$log"
}

# Configure (once) and build in $top/_build/NAME, and stay there.
build_in() {
	name=$1
	shift
	[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null)
	mkdir -p "$top/_build/$name"
	cd "$top/_build/$name"
	[ -f Makefile ] || configure_build "$@"
	make -s -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
}

# release_tarball DIR: `make dist` of $top, in $top when it is configured
# in place, else in DIR (configured there once: dist compiles nothing).
# Sets tarball and version; returns 1, having said why, when it fails.
release_tarball() {
	if [ -f "$top/config.status" ]; then
		dist=$top
	else
		[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null)
		dist=$1
		mkdir -p "$dist"
		(cd "$dist" && { [ -f Makefile ] || configure_build; }) || return 1
	fi
	rm -f "$dist"/dcproxy-*.tar.gz
	if ! make -s -C "$dist" dist >"$1.log" 2>&1; then
		cat "$1.log" >&2
		echo "make dist failed" >&2
		return 1
	fi
	tarball=$(ls "$dist"/dcproxy-*.tar.gz)
	version=${tarball##*/dcproxy-}
	version=${version%.tar.gz}
}
