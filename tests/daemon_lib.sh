# daemon_lib.sh: helpers for the shell tests that drive a real dcproxyd in
# front of the real stand-in service on loopback (sourced, not run).  Every
# process started is killed on exit; every wait is bounded.

: "${TOP_BUILDDIR:?run from make check}" "${TOP_SRCDIR:?run from make check}"
: "${DCPROXY_PLUGIN_PATH:?run from make check}"
for tool in curl jq; do
	command -v $tool >/dev/null 2>&1 ||
		{ echo "$0 needs $tool: apt-get install $tool" >&2; exit 99; }
done

dcproxyd=$TOP_BUILDDIR/dcproxyd
standin=$TOP_BUILDDIR/tests/dcproxy-standin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dcproxyd-test.XXXXXX") || exit 99
pids=""
cleanup() {
	for pid in $pids; do
		kill -9 "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failures=0
checks=0
fail() {
	failures=$((failures + 1))
	echo "FAIL: $*"
	[ -f "$tmp/h" ] && { echo "--- headers"; cat "$tmp/h"; }
	[ -f "$tmp/b" ] && { echo "--- body"; cat "$tmp/b"; echo; }
}
ok() {
	checks=$((checks + 1))
}

# wait_for FILE PATTERN: up to 10 s for PATTERN to appear in FILE.
wait_for() {
	n=0
	while ! grep -q -e "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt 100 ] && return 1
		sleep 0.1
	done
	return 0
}

# start_standin: start the stand-in upstream, set $upstream.
start_standin() {
	"$standin" >"$tmp/standin.out" 2>"$tmp/standin.err" &
	pids="$pids $!"
	wait_for "$tmp/standin.out" '^http://' || { echo "stand-in did not start"; exit 99; }
	upstream=$(head -n 1 "$tmp/standin.out")
}
upstream_count() {
	curl -s --max-time 5 "$upstream/_standin/requests" | jq length
}
upstream_reset() {
	curl -s --max-time 5 -X POST "$upstream/_standin/reset" >/dev/null
}
upstream_fault() {
	curl -s --max-time 5 -X POST -d "$1" "$upstream/_standin/fault" >/dev/null
}

# start_daemon NAME INI [VAR=VALUE...]: start dcproxyd (registry
# $registry, default the source tree's), set $port and $dpid once it
# listens.
start_daemon() {
	name=$1
	ini=$2
	shift 2
	env DCPROXY_REGISTRY="${registry:-$TOP_SRCDIR/etc/operations.ini}" \
	    DATA_COLLECTION_URL="$upstream" MAX_RETRIES=0 REQUEST_TIMEOUT=2 \
	    "$@" "$dcproxyd" --config "$ini" 2>"$tmp/$name.log" &
	dpid=$!
	pids="$pids $dpid"
	if ! wait_for "$tmp/$name.log" '"listening on'; then
		echo "dcproxyd $name did not start:"
		cat "$tmp/$name.log"
		exit 1
	fi
	port=$(sed -n 's/.*"listening on [^ ]* port \([0-9]*\),.*/\1/p' "$tmp/$name.log" | head -n 1)
}

# stop_daemon PID WHAT: SIGTERM, then up to 15 s for exit status 0 (a
# sanitizer finding at exit would make it non-zero).
stop_daemon() {
	kill -TERM "$1" 2>/dev/null
	n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt 150 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		fail "$2: still running 15 s after SIGTERM"
	else
		wait "$1"
		rc=$?
		if [ $rc -eq 0 ]; then ok; else fail "$2: exited $rc after SIGTERM"; fi
	fi
}

# req METHOD PATH [CURL ARGS...]: sets $code; headers in $tmp/h, body in $tmp/b.
req() {
	method=$1
	path=$2
	shift 2
	rm -f "$tmp/h" "$tmp/b"
	code=$(curl -s --max-time 10 -X "$method" -D "$tmp/h" -o "$tmp/b" \
		-w '%{http_code}' "$@" "http://127.0.0.1:$port$path")
}

header() {
	grep -i "^$1:" "$tmp/h" | tail -n 1 | cut -d: -f2- | tr -d ' \r'
}

expect_code() {
	if [ "$code" = "$1" ]; then ok; else fail "$2: HTTP $code, want $1"; fi
}
expect_header() {
	got=$(header "$1")
	if [ "$got" = "$2" ]; then ok; else fail "$3: $1 is '$got', want '$2'"; fi
}
expect_body() {
	if jq -e "$1" "$tmp/b" >/dev/null 2>&1; then ok; else fail "$2: body does not satisfy $1"; fi
}

# finish NAME: the summary line and the exit status.
finish() {
	echo "$1: $checks checks passed, $failures failed"
	[ $failures -eq 0 ]
}
