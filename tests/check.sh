#!/bin/sh
# Install what is missing, build with warnings as errors under ASan+UBSan,
# run every test, then check the release tarball with `make distcheck`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
install_deps

[ -x configure ] || ./autogen.sh >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)

mkdir -p _build/sanitized
cd _build/sanitized
[ -f Makefile ] || ../../configure -q --enable-werror --enable-sanitizers
status=0
make -s -j"$jobs" >/dev/null
make -s -j"$jobs" check || status=$?
[ -f test-suite.log ] && grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP|XFAIL|XPASS):' test-suite.log
if [ "$status" -ne 0 ]; then
	cat test-suite.log
	exit "$status"
fi
passed=$(sed -n 's/^# PASS: *//p' test-suite.log)
failed=$(sed -n 's/^# FAIL: *//p' test-suite.log)
skipped=$(sed -n 's/^# SKIP: *//p' test-suite.log)

cd "$top"
mkdir -p _build/dist
cd _build/dist
[ -f Makefile ] || ../../configure -q
make -s -j"$jobs" distcheck >/dev/null
echo "distcheck: ok"
echo "$passed passed, $failed failed, $skipped skipped"
