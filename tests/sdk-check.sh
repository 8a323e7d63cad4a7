#!/bin/sh
# The plugin SDK as a third party uses it: install into a staging root,
# build tests/sdk/quote.c out of tree with only `pkg-config dcproxy`, drop it
# into the registry with one .ini file, and call it through the installed
# dcproxy against the stand-in service.
#   usage: tests/sdk-check.sh BUILDDIR
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
work=$(mktemp -d)
standin=
trap '[ -n "$standin" ] && kill $standin 2>/dev/null; rm -rf "$work"' EXIT INT TERM
fail() { echo "sdk-check: FAIL: $*" >&2; exit 1; }

make -s -C "$build" install DESTDIR="$work/stage" >"$work/install.log" 2>&1 ||
	fail "make install: $(cat "$work/install.log")"
prefix=$(sed -n 's/^prefix=//p' "$build/core/dcproxy.pc")
root=$work/stage$prefix
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$work/stage"

[ "$(pkg-config --variable=abi dcproxy)" = 1.0 ] || fail "dcproxy.pc abi"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$work/quote.so" \
	"$top/tests/sdk/quote.c" $(pkg-config --cflags --libs dcproxy) ||
	fail "quote.c does not build against the installed SDK"

mkdir -p "$work/etc/operations.d"
cp "$root/etc/dcproxy/operations.ini" "$work/etc/"
cp "$root/etc/dcproxy/operations.d/"*.ini "$work/etc/operations.d/"
cat >"$work/etc/operations.d/60-quote.ini" <<INI
[operation quote]
plugin = $work/quote.so
method = GET
route = /api/v1/symbols
service = data-collection
INI

. "$top/tests/servers.sh"
start_server "$build/tests/dcproxy-standin" "$work/url"
standin=$server_pid url=$server_addr

export LD_LIBRARY_PATH="$root/lib" DCPROXY_REGISTRY="$work/etc/operations.ini" \
	DCPROXY_PLUGIN_PATH="$root/lib/dcproxy" DATA_COLLECTION_URL="$url" \
	LOG_LEVEL=error
dcproxy=$root/bin/dcproxy

"$dcproxy" list >"$work/list" || fail "dcproxy list: $(cat "$work/list")"
grep -q "quote 1.0.0, ABI 1.0" "$work/list" || fail "quote not listed as loaded"
# Its route is symbols's: list says HTTP reaches symbols there.
grep -A1 -x quote "$work/list" | grep -q "GET /api/v1/symbols (cacheable); over HTTP that is symbols" ||
	fail "list does not say quote's route is symbols's: $(grep -A2 -x quote "$work/list")"

"$dcproxy" invoke '{"operation":"quote","params":{"symbol":"ETH/USDT"}}' \
	2>/dev/null >"$work/out" || fail "invoke: $(cat "$work/out")"
jq -e '.body.data.result.quote.symbols | length == 2' "$work/out" >/dev/null ||
	fail "shape hook not applied: $(cat "$work/out")"
curl -sS "$url/_standin/requests" | jq -e \
	'.[-1].path == "/api/v1/symbols" and .[-1].query == "symbol=ETH%2FUSDT"' \
	>/dev/null || fail "query not forwarded"

"$dcproxy" invoke '{"operation":"quote","params":{"symbol":7}}' 2>/dev/null \
	>"$work/out" && fail "invalid params accepted"
jq -e '.body.data.result.error_kind == "validation"' "$work/out" >/dev/null ||
	fail "validation from the plugin: $(cat "$work/out")"

rm "$work/etc/operations.d/60-quote.ini"
"$dcproxy" invoke '{"operation":"quote"}' 2>/dev/null >"$work/out" || true
jq -e '.body.data.result.error_kind == "unknown_operation"' "$work/out" \
	>/dev/null || fail "removing the drop-in did not remove the operation"
echo "sdk-check: 7 checks passed, 0 failed"
