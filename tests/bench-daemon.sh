#!/bin/sh
# Benchmark: dcproxyd on loopback under wrk, beside nginx serving the same
# JSON body as a static file, in the same run.
#   1. cached GET api/v1/health            (X-Cache: HIT)
#   2. cached POST {"operation":"health"}  (the Lambda-style event route)
#   3. nginx: the same body, a static file, Content-Type application/json
#   4. cache misses: GET api/v1/ohlcv with a start that never repeats, so
#      every request is a miss that goes to the stand-in upstream
# each with wrk -c50 -d10s --latency; then dcproxyd's VmRSS once its
# cache holds 10,000 distinct items (CACHE_MAX_ITEMS=10000, checked on
# /metrics): 1 s after the fill, and at rest once the fill's worker threads
# have ended.  Targets: cache-hit throughput >= 0.8x nginx's, p99 <= 2 ms at
# 50 connections, RSS <= 20 MiB with 10,000 cached items.
# The servers (dcproxyd, nginx) get the first half of the CPUs and the
# load (wrk, the stand-in upstream) the rest, so neither side takes time
# slices from the other: sharing, a server's event loop waits behind wrk's
# threads and p99 measures the scheduler (4 to 6 ms here, nginx too).
# nginx runs one worker per server CPU, as dcproxyd runs one loop per CPU
# it may use.
#   usage: tests/bench-daemon.sh [DURATION]     (wrk -d, default 10s)
set -eu
duration=${1:-10s}
conns=50
cpus=$(nproc)
if [ "$cpus" -ge 2 ]; then
	server_cpus=0-$((cpus / 2 - 1))
	load_cpus=$((cpus / 2))-$((cpus - 1))
	threads=$((cpus - cpus / 2))
	workers=$((cpus / 2))
else
	server_cpus=0 load_cpus=0 threads=1 workers=1
fi
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
install_deps wrk nginx-light

build_in bench-daemon
build=$top/_build/bench-daemon
cd "$top"

out=$(mktemp -d)
standin='' dpid='' npid='' port='' mport='' nport=''
cleanup() {
	for pid in $dpid $npid $standin; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
	echo "bench-daemon: $*" >&2
	exit 1
}

# free_port VAR: a loopback TCP port no socket uses (nor handed out
# before), into VAR; below Linux's ephemeral range (32768 up), where wrk's
# and curl's own connections would take it.  Bounded: 1000 candidates.
taken=''
free_port() {
	p=$((20000 + $$ % 11000))
	n=0
	while [ $n -lt 1000 ]; do
		case " $taken " in
		*" $p "*) ;;
		*) [ -z "$(ss -Htan "sport = :$p")" ] && break ;;
		esac
		p=$((p + 1))
		n=$((n + 1))
	done
	[ $n -lt 1000 ] || fail "no free port"
	taken="$taken $p"
	eval "$1=$p"
}
# wait_http URL: up to 10 s for URL to answer 200.
wait_http() {
	n=0
	until curl -sf -o /dev/null --max-time 1 "$1"; do
		n=$((n + 1))
		[ $n -lt 100 ] || return 1
		sleep 0.1
	done
}

# ---- the stand-in upstream
taskset -c "$load_cpus" "$build/tests/dcproxy-standin" >"$out/standin.url" 2>"$out/standin.err" &
standin=$!
n=0
while [ ! -s "$out/standin.url" ]; do
	n=$((n + 1))
	[ $n -lt 100 ] || fail "stand-in did not start"
	sleep 0.1
done
upstream=$(head -n1 "$out/standin.url")
standin_ohlcv() { # ohlcv requests the stand-in received since its reset
	curl -sS --max-time 30 "$upstream/_standin/requests" |
		jq '[.[] | select(.path == "/api/v1/ohlcv")] | length'
}

# ---- dcproxyd
free_port port
free_port mport
cat >"$out/dcproxyd.ini" <<EOF
[dcproxyd]
EA_HOST = 127.0.0.1
EA_PORT = $port
LOG_LEVEL = error
CACHE_MAX_AGE = 600000
CACHE_MAX_ITEMS = 10000
SERVER_RATE_LIMIT_MAX = 0
EXPERIMENTAL_METRICS_ENABLED = true
METRICS_PORT = $mport
EOF
env DCPROXY_REGISTRY="$top/etc/operations.ini" \
    DCPROXY_PLUGIN_PATH="$build/plugins/.libs" \
    DATA_COLLECTION_URL="$upstream" \
    taskset -c "$server_cpus" "$build/dcproxyd" --config "$out/dcproxyd.ini" \
	2>"$out/dcproxyd.log" &
dpid=$!
base=http://127.0.0.1:$port
wait_http "$base/healthz" || fail "dcproxyd did not start: $(cat "$out/dcproxyd.log")"
cache_items() {
	curl -sS --max-time 5 "http://127.0.0.1:$mport/metrics" |
		awk '/^dcproxy_cache_items/ { print $NF }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$dpid/status"; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$dpid/status"; }

# Warm the cache: the first GET and POST are misses, the next are hits.
event='{"operation":"health"}'
curl -sS --max-time 10 -o "$out/health.json" "$base/api/v1/health"
jq -e '.status == "healthy"' "$out/health.json" >/dev/null ||
	fail "health answered: $(cat "$out/health.json")"
curl -sS --max-time 10 -o /dev/null -d "$event" "$base/"
hit() { # METHOD [CURL ARGS]: the X-Cache header of one request
	m=$1
	shift
	curl -sS --max-time 10 -X "$m" -D - -o /dev/null "$@" |
		tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }'
}
[ "$(hit GET "$base/api/v1/health")" = HIT ] || fail "GET health is not a cache hit"
[ "$(hit POST -d "$event" "$base/")" = HIT ] || fail "POST health is not a cache hit"
rss_start=$(rss_kib)
threads_start=$(threads)

# ---- nginx, serving the same body as a static file
free_port nport
mkdir -p "$out/www/api/v1" "$out/nginx"
cp "$out/health.json" "$out/www/api/v1/health"
chmod -R go+rX "$out" # nginx's workers run as nobody when started as root
cat >"$out/nginx/nginx.conf" <<EOF
daemon off;
worker_processes $workers;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log error;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $out/nginx/body;
	proxy_temp_path $out/nginx/proxy;
	fastcgi_temp_path $out/nginx/fastcgi;
	uwsgi_temp_path $out/nginx/uwsgi;
	scgi_temp_path $out/nginx/scgi;
	types { }
	default_type application/json;
	server {
		listen 127.0.0.1:$nport;
		root $out/www;
	}
}
EOF
taskset -c "$server_cpus" nginx -e "$out/nginx/error.log" -p "$out/nginx" -c "$out/nginx/nginx.conf" &
npid=$!
nginx_url=http://127.0.0.1:$nport/api/v1/health
wait_http "$nginx_url" || fail "nginx did not start: $(cat "$out/nginx/error.log")"
curl -sS --max-time 5 -o "$out/nginx.body" "$nginx_url"
cmp -s "$out/health.json" "$out/nginx.body" || fail "nginx serves another body"

# ---- wrk scripts; done() prints requests/s, p99 (us), non-2xx, socket errors
cat >"$out/done.lua" <<'EOF'
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %.2f %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(99), e.status,
		e.connect + e.read + e.write + e.timeout))
end
EOF
cp "$out/done.lua" "$out/get.lua"
{
	cat <<EOF
wrk.method = "POST"
wrk.body = '$event'
wrk.headers["Content-Type"] = "application/json"
EOF
	cat "$out/done.lua"
} >"$out/post.lua"
{
	cat <<'EOF'
-- Every request a distinct start, so every request misses.
-- id is a global: thread:set() sets globals in each thread's state.
id = 0
local n = 0
local counter = 0
function setup(thread)
	counter = counter + 1
	thread:set("id", counter)
end
function request()
	n = n + 1
	return wrk.format("GET",
		"/api/v1/ohlcv?symbol=BTC%2FUSDT%3AUSDT&limit=100&start=" ..
		(1704067200000 + id * 1000000000 + n))
end
EOF
	cat "$out/done.lua"
} >"$out/miss.lua"

# bench NAME SCRIPT URL: one wrk run; NAME.rps, NAME.p99 (ms) in $out.
bench() {
	taskset -c "$load_cpus" wrk -t$threads -c$conns -d"$duration" --latency -s "$2" "$3" >"$out/$1.wrk" 2>&1 ||
		fail "wrk $1: $(cat "$out/$1.wrk")"
	# shellcheck disable=SC2046 # four numbers, split on purpose
	set -- "$1" $(awk '$1 == "RESULT" { print $2, $3, $4, $5 }' "$out/$1.wrk")
	[ $# -eq 5 ] || fail "wrk $1 printed no result: $(cat "$out/$1.wrk")"
	[ "$4" -eq 0 ] || fail "wrk $1: $4 non-2xx replies"
	[ "$5" -eq 0 ] || fail "wrk $1: $5 socket errors"
	echo "$2" >"$out/$1.rps"
	echo "$3" | awk '{ printf "%.3f\n", $1 / 1000 }' >"$out/$1.p99"
}
bench get "$out/get.lua" "$base/api/v1/health"
bench post "$out/post.lua" "$base/"
bench nginx "$out/get.lua" "$nginx_url"
[ "$(hit GET "$base/api/v1/health")" = HIT ] || fail "GET health stopped being a hit"

# ---- 10,000 distinct cached items: fetch_ohlcv limit=1..10000, 50 at a time
curl -sS --max-time 10 -X POST "$upstream/_standin/reset" >/dev/null
i=1
while [ $i -le 10000 ]; do
	echo "url = \"$base/api/v1/ohlcv?symbol=BTC%2FUSDT%3AUSDT&limit=$i\""
	echo 'output = "/dev/null"'
	i=$((i + 1))
done >"$out/fill.curl"
fill_start=$(date +%s.%N)
curl -sS --no-progress-meter --fail --parallel --parallel-max $conns --max-time 60 -K "$out/fill.curl" ||
	fail "filling the cache failed"
fill_end=$(date +%s.%N)
filled=$(standin_ohlcv)
items=$(cache_items)
[ "$filled" -eq 10000 ] || fail "the stand-in saw $filled ohlcv requests, want 10000"
[ "$items" -eq 10000 ] || fail "dcproxy_cache_items is $items, want 10000"
sleep 1
rss_full=$(rss_kib)
# At rest: the fill's worker threads end after 5 s idle (up to 20 s here).
n=0
while [ "$(threads)" -gt "$threads_start" ] && [ $n -lt 200 ]; do
	sleep 0.1
	n=$((n + 1))
done
sleep 0.5
rss_rest=$(rss_kib)

# ---- cache misses through to the stand-in
curl -sS --max-time 10 -X POST "$upstream/_standin/reset" >/dev/null
bench miss "$out/miss.lua" "$base/"
missed=$(standin_ohlcv)
rss_after=$(rss_kib)

awk -v d="$duration" -v c=$conns -v t=$threads \
    -v gr="$(cat "$out/get.rps")" -v gp="$(cat "$out/get.p99")" \
    -v pr="$(cat "$out/post.rps")" -v pp="$(cat "$out/post.p99")" \
    -v nr="$(cat "$out/nginx.rps")" -v np="$(cat "$out/nginx.p99")" \
    -v mr="$(cat "$out/miss.rps")" -v mp="$(cat "$out/miss.p99")" \
    -v missed="$missed" -v r0="$rss_start" -v r1="$rss_full" -v r2="$rss_after" \
    -v rr="$rss_rest" \
    -v fs="$fill_start" -v fe="$fill_end" -v cpus="$cpus" \
    -v sc="$server_cpus" -v lc="$load_cpus" 'BEGIN {
	row = "%-44s %11s %10s  %-14s %s\n"
	printf "dcproxyd vs nginx, loopback, same run: wrk -t%d -c%d -d%s --latency, %d CPUs\n",
		t, c, d, cpus
	printf "servers on CPU %s, wrk and the stand-in on CPU %s\n", sc, lc
	printf row, "", "requests/s", "p99", "target", ""
	printf row, "dcproxyd GET api/v1/health (hit)", sprintf("%.0f", gr),
		sprintf("%.2f ms", gp), "<= 2 ms", (gp <= 2) ? "ok" : "MISSED"
	printf row, "dcproxyd POST {\"operation\":\"health\"} (hit)", sprintf("%.0f", pr),
		sprintf("%.2f ms", pp), "<= 2 ms", (pp <= 2) ? "ok" : "MISSED"
	printf row, "nginx static file", sprintf("%.0f", nr), sprintf("%.2f ms", np), "", ""
	printf row, "GET hit / nginx", sprintf("%.2fx", gr / nr), "", ">= 0.80x",
		(gr / nr >= 0.8) ? "ok" : "MISSED"
	printf row, "POST hit / nginx", sprintf("%.2fx", pr / nr), "", ">= 0.80x",
		(pr / nr >= 0.8) ? "ok" : "MISSED"
	printf row, "dcproxyd GET api/v1/ohlcv (miss)", sprintf("%.0f", mr),
		sprintf("%.2f ms", mp), "", sprintf("(%d upstream calls)", missed)
	printf row, "fill 10,000 items (curl, 50 parallel)",
		sprintf("%.0f", 10000 / (fe - fs)), "", "", ""
	printf row, "dcproxyd VmRSS, warm, 1 item", sprintf("%d KiB", r0), "", "", ""
	printf row, "dcproxyd VmRSS, 10,000 items, 1 s after", sprintf("%d KiB", r1), "", "",
		sprintf("(%.1f MiB, the fill threads alive)", r1 / 1024)
	printf row, "dcproxyd VmRSS, 10,000 items, at rest", sprintf("%d KiB", rr), "", "<= 20 MiB",
		sprintf("%s (%.1f MiB)", (rr <= 20480) ? "ok" : "MISSED", rr / 1024)
	printf row, "dcproxyd VmRSS, after the miss run", sprintf("%d KiB", r2), "", "", ""
}'
