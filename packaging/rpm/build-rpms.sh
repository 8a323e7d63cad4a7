#!/bin/sh
# Build the RPM packages of dcproxy (dcproxy, dcproxyd, dcproxy-devel) the
# way a Fedora, RHEL or Amazon Linux 2023 builder would: make the release
# tarball, which carries dcproxy.spec at its top, and run rpmbuild -ta on it.
#   usage: packaging/rpm/build-rpms.sh SRCDIR OUTDIR
#   env:   DCPROXY_RPM_BUILDDIR (default OUTDIR/build): the tarball's build
#          tree (dist/) and rpmbuild's _topdir (rpmbuild/)
# Leaves the binary RPMs and the source RPM in OUTDIR.
#
# On a Debian machine rpmbuild runs with --nodeps: the spec's BuildRequires
# are Fedora's package names, which Debian's rpm database does not hold; the
# Debian packages providing the same libraries are installed instead.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 SRCDIR OUTDIR" >&2
	exit 2
fi
top=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
build=${DCPROXY_RPM_BUILDDIR:-$out/build}
fail() { echo "build-rpms: $*" >&2; exit 1; }
# Run from `make rpms`, the outer make's flags and variable overrides must
# not reach these builds.
unset MAKEFLAGS MFLAGS MAKELEVEL

. "$top/tests/deps.sh"
# rpm brings rpmbuild; brp-strip needs file(1) to find what to strip.
install_deps rpm rpm2cpio cpio file
command -v rpmbuild >/dev/null || fail "rpmbuild not found after installing rpm"

mkdir -p "$build"
build=$(cd "$build" && pwd)
release_tarball "$build/dist" || fail "no release tarball"
tar -tzf "$tarball" | grep -qx "dcproxy-$version/dcproxy.spec" ||
	fail "$tarball has no dcproxy-$version/dcproxy.spec for rpmbuild -ta"

# A private _topdir; the spec's own %configure, %make_build and
# %make_install do the rest.
topdir=$build/rpmbuild
rm -rf "$topdir"
mkdir -p "$topdir"
if ! rpmbuild -ta --nodeps --define "_topdir $topdir" "$tarball" \
	>"$build/rpmbuild.log" 2>&1; then
	tail -n 60 "$build/rpmbuild.log" >&2
	fail "rpmbuild -ta failed (whole log: $build/rpmbuild.log)"
fi

rm -f "$out"/*.rpm
found=0
for rpm in "$topdir"/RPMS/*/*.rpm "$topdir"/SRPMS/*.src.rpm; do
	[ -f "$rpm" ] || continue
	cp "$rpm" "$out/"
	found=$((found + 1))
done
[ "$found" -gt 0 ] || fail "rpmbuild made no packages (log: $build/rpmbuild.log)"
echo "build-rpms: $out"
for rpm in "$out"/*.rpm; do
	printf '  %-44s %8s bytes, %2s files\n' "${rpm##*/}" "$(wc -c <"$rpm")" \
		"$(rpm -qlp "$rpm" 2>/dev/null | grep -c .)"
done
