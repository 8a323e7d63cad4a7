#!/bin/sh
# Install what is missing, build with warnings as errors under ASan+UBSan,
# run every test, build the Lambda layers and the Debian packages and test
# them as installed, then check the release tarball with `make distcheck`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
install_deps

jobs=$(nproc 2>/dev/null || echo 2)
build_in sanitized --enable-werror --enable-sanitizers
status=0
make -s -j"$jobs" check || status=$?
if [ "$status" -ne 0 ]; then
	cat test-suite.log
	exit "$status"
fi
# Individual checks across the suites: Check's "Checks: N, Failures: F,
# Errors: E" lines and the shell tests' "N checks passed, F failed".
sdk=$("$top/tests/sdk-check.sh" .) || { echo "$sdk"; exit 1; }
echo "$sdk"
# The Lambda layers: built with --prefix=/opt in _build/layers/build, then
# unpacked and run against the Runtime API emulator.
layers=$top/_build/layers
built=$("$top/packaging/lambda/build-layers.sh" "$top" "$layers" 2>&1) ||
	{ echo "$built"; exit 1; }
lt=$("$top/packaging/lambda/layer-test.sh" "$layers/build" "$layers") ||
	{ echo "$lt"; exit 1; }
echo "$lt"
# The Debian packages: built from the release tarball, then installed with
# apt, used from their installed paths and purged.
debs=$top/_build/debs
built=$("$top/packaging/debian/build-debs.sh" "$top" "$debs" 2>&1) ||
	{ echo "$built"; exit 1; }
dt=$("$top/packaging/debian/deb-test.sh" "$debs" .) || { echo "$dt"; exit 1; }
echo "$dt"
# And under a real systemd, in a container booted for it.
st=$("$top/packaging/debian/systemd-test.sh" "$debs" .) || { echo "$st"; exit 1; }
echo "$st"
# The RPM packages: the release tarball through rpmbuild -ta in
# _build/rpms/build, then checked, installed into an empty root and run.
rpms=$top/_build/rpms
built=$("$top/packaging/rpm/build-rpms.sh" "$top" "$rpms" 2>&1) ||
	{ echo "$built"; exit 1; }
rt=$("$top/packaging/rpm/rpm-test.sh" "$rpms" .) || { echo "$rt"; exit 1; }
echo "$rt"
counts=$({ cat tests/*.log; echo "$sdk"; echo "$lt"; echo "$dt"; echo "$st"; echo "$rt"; } | awk '
	/^[0-9]+%: Checks: / { gsub(",", ""); n += $3; bad += $5 + $7 }
	/ checks passed, / { n += $2 + $5; bad += $5 }
	END { print n - bad, bad }')

build_in dist
if ! make -s -j"$jobs" distcheck >distcheck.log 2>&1; then
	cat distcheck.log
	exit 1
fi
echo "distcheck: ok"
set -- $counts
echo "$1 passed, $2 failed"
