#!/bin/bash
# Benchmark: the Lambda runtime as the layers ship it (unpacked into a
# stand-in /opt, clean environment, default LOG_LEVEL with its output thrown
# away) against the Runtime API emulator and the loopback stand-in service,
# beside curl doing one GET of the same service in the same run.
#   - exec -> first /next, RUNS fresh runtimes, timed on the emulator's clock;
#     the same apparatus times curl's GET /next as a control
#   - 1,000 + 9,000 health invocations back to back through the emulator:
#     wall and CPU (utime+stime from /proc) per invocation, VmRSS after each
#   - curl: exec -> exit of RUNS GETs through the same fork, environment and
#     clock; median wall of RUNS GETs (hyperfine); median peak RSS
#     (time -f %M)
# Targets: first /next sooner than curl's whole GET (exec -> exit, same
# apparatus); RSS <= 1.1x curl's peak
# and flat from 1,000 to 10,000 invocations; CPU <= 150 us per invocation.
#   usage: packaging/lambda/bench-runtime.sh [RUNS]      (default 20)
# Builds the layers into _build/layers (packaging/lambda/build-layers.sh).
# bash for $EPOCHREALTIME: a timestamp without forking.
set -eu
runs=${1:-20}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/deps.sh
install_deps hyperfine time zip unzip

layers=$top/_build/layers
packaging/lambda/build-layers.sh "$top" "$layers" >/dev/null
bin=$layers/build/tests

out=$(mktemp -d)
opt=$out/opt
standin='' emulator='' runtime=''
cleanup() {
	for pid in $runtime $emulator $standin; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "bench-runtime: $*" >&2; exit 1; }

mkdir -p "$opt"
for zip in "$layers/dcproxy-core-layer.zip" "$layers"/dcproxy-op-*-layer.zip; do
	unzip -q -o "$zip" -d "$opt"
done

"$bin/dcproxy-standin" >"$out/url" &
standin=$!
while [ ! -s "$out/url" ]; do sleep 0.05; done
url=$(head -n1 "$out/url")

# A fresh emulator; sets emulator and api.
start_emulator() {
	: >"$out/api"
	"$bin/dcproxy-lambda-emulator" >"$out/api" &
	emulator=$!
	while [ ! -s "$out/api" ]; do :; done
	api=$(head -n1 "$out/api")
}
stop() { # PID
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# spawn COMMAND...: run it in the background with a clean environment plus
# the runtime's variables; sets runtime and execed (epoch in us before the
# fork).  A subshell clears the environment and execs the command itself:
# env -i would add its own exec and locale loading to the figure.
exported=$(compgen -e)
curl=$(command -v curl) # PATH goes too
spawn() {
	execed=${EPOCHREALTIME/./}
	(
		# shellcheck disable=SC2086
		unset $exported 2>/dev/null
		export AWS_LAMBDA_RUNTIME_API="$api" LD_LIBRARY_PATH="$opt/lib" \
			DATA_COLLECTION_URL="$url" \
			DCPROXY_REGISTRY="$opt/etc/dcproxy/operations.ini" \
			DCPROXY_PLUGIN_PATH="$opt/lib/dcproxy"
		exec "$@" >/dev/null 2>&1
	) &
	runtime=$!
}
stats() { curl -sS "http://$api/_emulator/stats"; }

# first_next runtime|curl: one sample of exec -> first /next, in ms, to
# $out/first.$1, from the emulator's wall-clock reading of the first /next
# (microseconds) and the moment before the fork.
first_next() {
	start_emulator
	sleep 0.05
	case $1 in
	runtime) spawn "$opt/bootstrap" ;;
	curl) spawn "$curl" -s -o /dev/null "http://$api/2018-06-01/runtime/invocation/next" ;;
	esac
	# Poll once it is surely up: curl and jq would compete for the CPU.
	sleep 0.2
	while :; do
		fn=$(stats | jq -r .first_next_epoch_us)
		[ "$fn" != null ] && break
		kill -0 "$runtime" 2>/dev/null || fail "$1 exited before its first /next"
		sleep 0.01
	done
	echo "$fn $execed" | awk '{ print ($1 - $2) / 1000 }' >>"$out/first.$1"
	stop "$runtime"
	stop "$emulator"
	runtime='' emulator=''
}
# whole_get: one sample of exec -> exit of curl's GET of the stand-in, in
# ms, to $out/get.curl: the same fork, environment and clock as
# first_next, so the target compares like with like (hyperfine, below,
# starts curl without a shell in front, and is shown beside it).
whole_get() {
	spawn "$curl" -s -o /dev/null "$url/api/v1/health"
	wait "$runtime" || fail "curl's GET of $url failed"
	done_us=${EPOCHREALTIME/./}
	echo "$done_us $execed" | awk '{ print ($1 - $2) / 1000 }' >>"$out/get.curl"
	runtime=''
}
# The mean of the middle 80% of the samples.
trimmed_mean() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		k = int(NR / 10); s = 0
		for (i = k + 1; i <= NR - k; i++) s += v[i]
		printf "%.2f", s / (NR - 2 * k) }'
}
i=0
while [ $i -lt "$runs" ]; do
	first_next runtime
	first_next curl
	whole_get
	i=$((i + 1))
done
first_runtime=$(trimmed_mean "$out/first.runtime")
first_curl=$(trimmed_mean "$out/first.curl")
get_curl=$(trimmed_mean "$out/get.curl")

# ---- steady state: 1,000 then 9,000 health invocations
start_emulator
spawn "$opt/bootstrap"
health='{"operation":"health"}'
invoke() { # REPEAT -> prints wall_ms
	curl -sS -X POST --data-binary "$health" -o "$out/answer" \
		"http://$api/_emulator/invoke?budget_ms=10000&repeat=$1"
	jq -e --argjson n "$1" '.count == $n and (.errors // 0) == 0 and
		.body.body.data.result.status == "healthy"' "$out/answer" >/dev/null ||
		fail "invocations failed: $(head -c 600 "$out/answer")"
	jq .wall_ms "$out/answer"
}
cpu_ticks() { # utime + stime; the fields after "(comm)"
	sed 's/.*) //' "/proc/$runtime/stat" | awk '{ print $12 + $13 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$runtime/status"; }
invoke 1 >/dev/null # the cold start
cpu0=$(cpu_ticks)
wall1=$(invoke 1000)
rss1=$(rss_kib)
wall2=$(invoke 9000)
rss2=$(rss_kib)
cpu1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
stop "$runtime"
stop "$emulator"
runtime='' emulator=''

# ---- the floor: curl doing one GET of the same service
hyperfine -N --style none --warmup 5 --runs "$runs" \
	--export-json "$out/curl.json" "curl -sS $url/api/v1/health" >/dev/null 2>&1
curl_ms=$(jq '.results[0].median * 1000' "$out/curl.json")
i=0
while [ $i -lt "$runs" ]; do
	/usr/bin/time -f %M -o "$out/rss1" curl -sS "$url/api/v1/health" >/dev/null
	cat "$out/rss1"
	i=$((i + 1))
done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' >"$out/curl.rss"
curl_rss=$(cat "$out/curl.rss")

awk -v runs="$runs" -v first="$first_runtime" -v ctl="$first_curl" -v get="$get_curl" \
    -v curl="$curl_ms" -v crss="$curl_rss" -v rss1="$rss1" -v rss2="$rss2" \
    -v w1="$wall1" -v w2="$wall2" -v c0="$cpu0" -v c1="$cpu1" -v hz="$hz" 'BEGIN {
	cpu = (c1 - c0) / hz / 10000 * 1e6
	wall = (w1 + w2) / 10000
	grow = rss2 - rss1
	row = "%-32s %14s %14s  %-16s %s\n"
	printf "dcproxy bootstrap from its unpacked layers vs curl, loopback, same run\n"
	printf row, "", "runtime", "curl", "target", ""
	printf row, "exec -> first /next (" runs " runs)", sprintf("%.2f ms", first),
		sprintf("%.2f ms", ctl), "", "(curl: its GET /next)"
	printf row, "curl one GET, exec -> exit", "", sprintf("%.2f ms", get),
		"runtime < curl", sprintf("%s (%.2fx)", first < get ? "ok" : "MISSED", first / get)
	printf row, "curl one GET, hyperfine median", "", sprintf("%.2f ms", curl), "",
		"(no shell in front)"
	printf row, "RSS after 1,000 / curl peak", rss1 " KiB", crss " KiB", "<= 1.10x curl",
		sprintf("%s (%.2fx)", rss1 <= 1.1 * crss ? "ok" : "MISSED", rss1 / crss)
	printf row, "RSS after 10,000", rss2 " KiB", "", "flat",
		sprintf("%s (%+d KiB)", grow <= rss1 / 100 && rss2 <= 1.1 * crss ? "ok" : "MISSED", grow)
	printf row, "CPU per invocation", sprintf("%.1f us", cpu), "", "<= 150 us",
		cpu <= 150 ? "ok" : "MISSED"
	printf row, "wall per invocation", sprintf("%.3f ms", wall), "", "", ""
}'
