#!/bin/sh
# The Lambda layers as Lambda uses them: unpack every layer zip into one empty
# directory standing in for /opt, run its bootstrap with a clean environment
# against the Runtime API emulator and the stand-in data-collection service,
# call all five operations, check that nothing resolves into the build tree,
# then drop one operation's layer and check that only that operation is gone.
#   usage: packaging/lambda/layer-test.sh BUILDDIR LAYERDIR
# BUILDDIR provides tests/dcproxy-standin and tests/dcproxy-lambda-emulator
# (build-layers.sh builds them in LAYERDIR/build); LAYERDIR holds the zips.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 BUILDDIR LAYERDIR" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
layers=$(cd "$2" && pwd)
work=$(mktemp -d)
opt=$work/opt
standin='' emulator='' runtime=''
cleanup() {
	for pid in $runtime $emulator $standin; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "layer-test: FAIL: $*" >&2; exit 1; }

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "layer-test: FAIL: $*" >&2; }

# ---- unpack: the core layer, then one layer per operation
core=$layers/dcproxy-core-layer.zip
[ -f "$core" ] || fail "no $core: run packaging/lambda/build-layers.sh first"
mkdir -p "$opt"
ops=
for zip in "$core" "$layers"/dcproxy-op-*-layer.zip; do
	[ -f "$zip" ] || fail "no operation layers in $layers"
	unzip -q -o "$zip" -d "$opt" || fail "unzip $zip"
	case $zip in
	*/dcproxy-op-*) name=${zip##*/dcproxy-op-}; ops="$ops ${name%-layer.zip}" ;;
	esac
done
if [ -x "$opt/bootstrap" ]; then ok; else bad "bootstrap is not executable after unzip"; fi

# The all-operations layer holds exactly the single-operation layers' files.
bundle=$layers/dcproxy-ops-layer.zip
mkdir -p "$work/bundle" "$work/singles"
unzip -q "$bundle" -d "$work/bundle" 2>/dev/null || true
for zip in "$layers"/dcproxy-op-*-layer.zip; do
	unzip -q -o "$zip" -d "$work/singles"
done
if [ -f "$bundle" ] && diff -r "$work/bundle" "$work/singles" >/dev/null; then
	ok
else
	bad "dcproxy-ops-layer.zip differs from the single-operation layers"
fi

# ---- the loader: everything but glibc from OPT/lib, nothing from the build
is_glibc() {
	case ${1##*/} in
	libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | \
	libresolv.so.* | ld-linux*.so.* | linux-vdso.so.*) return 0 ;;
	esac
	return 1
}
# Reads "NAME PATH" lines; complains about any library not found, found in
# the build or source tree, or found outside OPT/lib when glibc lacks it.
check_resolution() { # WHAT
	problems=
	while read -r name path; do
		case $path in
		not) problems="$problems $name:not-found" ;;
		"$top"/* | "$build"/*) problems="$problems $name:$path" ;;
		"$opt"/lib/*) ;;
		*) is_glibc "$name" || problems="$problems $name:$path" ;;
		esac
	done
	if [ -z "$problems" ]; then ok; else bad "$1:$problems"; fi
}
# ldd_pairs FILE [ENV...]: "NAME PATH" per library ldd lists, PATH "not"
# when missing, into $work/pairs.
ldd_pairs() {
	file=$1
	shift
	env -i "$@" /usr/bin/ldd "$file" >"$work/ldd" 2>&1 ||
		fail "ldd $file: $(cat "$work/ldd")"
	awk '$2 == "=>" { print $1, $3 }' "$work/ldd" >"$work/pairs"
}
ldd_pairs "$opt/bootstrap" LD_LIBRARY_PATH="$opt/lib"
check_resolution "ldd bootstrap (LD_LIBRARY_PATH=OPT/lib)" <"$work/pairs"
# Without LD_LIBRARY_PATH the $ORIGIN/lib rpath alone must do.
ldd_pairs "$opt/bootstrap"
check_resolution "ldd bootstrap (no LD_LIBRARY_PATH)" <"$work/pairs"
: >"$work/all"
for so in "$opt"/lib/dcproxy/*.so; do
	ldd_pairs "$so" LD_LIBRARY_PATH="$opt/lib"
	cat "$work/pairs" >>"$work/all"
done
check_resolution "ldd of the plugins" <"$work/all"

# ---- the services
. "$top/tests/servers.sh"
start_server "$build/tests/dcproxy-standin" "$work/standin.url"
standin=$server_pid url=$server_addr
start_server "$build/tests/dcproxy-lambda-emulator" "$work/emulator.api"
emulator=$server_pid api=$server_addr

next_calls() { curl -sS "http://$api/_emulator/stats" | jq -r .next_calls; }
# Start bootstrap and wait for its first /next.
start_runtime() {
	calls=$(next_calls)
	env -i AWS_LAMBDA_RUNTIME_API="$api" LD_LIBRARY_PATH="$opt/lib" \
		DATA_COLLECTION_URL="$url" \
		DCPROXY_REGISTRY="$opt/etc/dcproxy/operations.ini" \
		DCPROXY_PLUGIN_PATH="$opt/lib/dcproxy" \
		"$opt/bootstrap" >"$work/runtime.out" 2>"$work/runtime.err" &
	runtime=$!
	tries=0
	while [ "$(next_calls)" -le "$calls" ]; do
		kill -0 "$runtime" 2>/dev/null ||
			fail "bootstrap exited at init: $(cat "$work/runtime.err")"
		tries=$((tries + 1))
		[ $tries -lt 100 ] || fail "bootstrap never asked for an invocation"
		sleep 0.05
	done
}
# The emulator notices a killed runtime's pending /next within 100 ms; an
# invocation queued sooner would go to the dead connection, so wait.
stop_runtime() {
	kill "$runtime" 2>/dev/null || true
	wait "$runtime" 2>/dev/null || true
	runtime=''
	sleep 0.3
}

# invoke EVENT: the emulator's answer in $work/answer; false when none came.
invoke() {
	curl -sS -X POST --data-binary "$1" -o "$work/answer" \
		"http://$api/_emulator/invoke?budget_ms=5000" 2>"$work/curl.err" &&
		jq -e '.kind == "response" and .body.statusCode == 200' \
			"$work/answer" >/dev/null
}
# expect OPERATION EVENT JQ-TEST-ON-RESULT
expect() {
	if ! invoke "$2"; then
		bad "$1: no answer: $(cat "$work/answer" "$work/curl.err" 2>/dev/null)"
	elif jq -e ".body.body.data.operation == \"$1\" and
			(.body.body.data.result | $3)" "$work/answer" >/dev/null; then
		ok
	else
		bad "$1: $(jq -c .body "$work/answer")"
	fi
}

health='{"operation":"health"}'
symbols='{"operation":"symbols"}'
status='{"operation":"status"}'
ohlcv='{"operation":"fetch_ohlcv","params":{"symbol":"BTC/USDT:USDT","timeframe":"4h","limit":2}}'
ensure='{"operation":"ensure-data","params":{"symbols":["BTC/USDT:USDT"],"timeframe":"1h","start_date":"20240201","end_date":"20240228","exchange":"binance_futures"}}'
t_health='.status == "healthy"'
t_symbols='.symbols == ["BTC/USDT:USDT","ETH/USDT:USDT"]'
t_status='.status == "ok"'
t_ohlcv='.symbol == "BTC/USDT:USDT" and .timeframe == "4h" and (.data | length) == 2'
t_ensure='.status == "synced" and .request.start_date == "2024-01-02" and
	.request.end_date == "2024-02-28" and .request.symbols == ["BTC/USDT:USDT"]'
gone='.error_kind == "unknown_operation"'

# ---- every operation through the unpacked layers
start_runtime
expect health "$health" "$t_health"
expect symbols "$symbols" "$t_symbols"
expect status "$status" "$t_status"
expect fetch_ohlcv "$ohlcv" "$t_ohlcv"
expect ensure-data "$ensure" "$t_ensure"
if curl -sS "$url/_standin/requests" | jq -e '.[-1].method == "POST" and
	.[-1].path == "/api/v1/sync"' >/dev/null; then
	ok
else
	bad "ensure-data did not reach POST /api/v1/sync"
fi

# What the running runtime mapped: all of it from OPT or glibc.
if kill -0 "$runtime" 2>/dev/null; then
	awk '$6 ~ /\.so/ { print $6, $6 }' "/proc/$runtime/maps" | sort -u \
		>"$work/maps"
	check_resolution "libraries mapped by the running bootstrap" <"$work/maps"
else
	bad "bootstrap exited: $(cat "$work/runtime.err")"
fi
stop_runtime

# ---- drop the symbols layer: its files go, the rest stays
drop=symbols
case " $ops " in *" $drop "*) ;; *) fail "no $drop layer among:$ops" ;; esac
unzip -Z1 "$layers/dcproxy-op-$drop-layer.zip" | grep -v '/$' >"$work/drop"
while read -r f; do
	rm "$opt/$f"
done <"$work/drop"
if [ "$(wc -l <"$work/drop")" -eq 2 ]; then
	ok
else
	bad "the $drop layer is not one plugin and one drop-in"
fi
start_runtime
expect symbols "$symbols" "$gone"
expect health "$health" "$t_health"
expect status "$status" "$t_status"
expect fetch_ohlcv "$ohlcv" "$t_ohlcv"
expect ensure-data "$ensure" "$t_ensure"
stop_runtime

echo "layer-test: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
