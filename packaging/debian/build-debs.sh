#!/bin/sh
# Build dcproxy's Debian source and binary packages from its release
# tarball: `make dist`, the tarball as the .orig.tar.gz, its
# packaging/debian/ as debian/, then dpkg-buildpackage.
#
#   dcproxy_V_ARCH.deb         the command, the operation plugins, the
#                              registry (/etc/dcproxy)
#   dcproxyd_V_ARCH.deb        the host service, its settings, its unit
#   dcproxy-dev_V_ARCH.deb     the plugin SDK header and dcproxy.pc
#   dcproxy_V.dsc, .orig.tar.gz, .debian.tar.xz, .changes, .buildinfo
#
#   usage: packaging/debian/build-debs.sh SRCDIR OUTDIR
# Unsigned (-us -uc); sign the .changes with debsign to upload.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 SRCDIR OUTDIR" >&2
	exit 2
fi
top=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
fail() { echo "build-debs: $*" >&2; exit 1; }
# Run from a make, its flags must not reach these builds.
unset MAKEFLAGS MFLAGS MAKELEVEL

. "$top/tests/deps.sh"
install_deps debhelper dpkg-dev
jobs=$(nproc 2>/dev/null || echo 2)

release_tarball "$out/dist" || fail "no release tarball"

rm -rf "$out/src" "$out"/dcproxy*_*
mkdir -p "$out/src"
cp "$tarball" "$out/src/dcproxy_$version.orig.tar.gz"
tar -xzf "$tarball" -C "$out/src"
tree=$out/src/dcproxy-$version
[ -d "$tree/packaging/debian" ] || fail "the tarball lacks packaging/debian"
cp -R "$tree/packaging/debian" "$tree/debian"
changelog=$(cd "$tree" && dpkg-parsechangelog -S Version)
[ "${changelog%-*}" = "$version" ] ||
	fail "debian/changelog is at $changelog, the tarball at $version: add a changelog entry"

(cd "$tree" && dpkg-buildpackage -us -uc -j"$jobs") >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log" >&2; fail "dpkg-buildpackage failed (whole log: $out/build.log)"; }
for f in "$out/src"/dcproxy*_*; do
	mv "$f" "$out/"
done
rm -rf "$out/src"
ls "$out"/*.deb
