#!/bin/sh
# Benchmark: `dcproxy invoke` of health, one process per call, beside curl
# fetching the same URL, in the same run.  Reports median wall time and
# median peak RSS of each and the ratios (target: dcproxy within 1.3x).
#   usage: tests/bench-cli.sh [RUNS]     (default 200)
set -eu
runs=${1:-200}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
install_deps hyperfine time

root=$top/_build/bench/root
build_in bench --prefix="$root"
make -s install >/dev/null

out=$(mktemp -d)
trap 'kill $standin 2>/dev/null; rm -rf "$out"' EXIT INT TERM
tests/dcproxy-standin >"$out/url" &
standin=$!
while [ ! -s "$out/url" ]; do sleep 0.05; done
url=$(head -n1 "$out/url")
export DATA_COLLECTION_URL="$url" LOG_LEVEL=error

event='{"operation":"health"}'
"$root/bin/dcproxy" invoke "$event" 2>/dev/null |
	jq -e '.body.data.result.status == "healthy"' >/dev/null
# hyperfine -N splits commands like a shell, so the event is quoted inside.
dcproxy="$root/bin/dcproxy invoke '$event'"
curl="curl -sS $url/api/v1/health"

hyperfine -N --style none --warmup 10 --runs "$runs" \
	--export-json "$out/wall.json" "$dcproxy" "$curl" >/dev/null 2>&1

# Peak RSS (KiB) of each run; report the median.
median_rss() {
	i=0
	while [ $i -lt "$runs" ]; do
		/usr/bin/time -f %M -o "$out/rss1" "$@" >/dev/null 2>&1
		cat "$out/rss1"
		i=$((i + 1))
	done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
rss_dcproxy=$(median_rss "$root/bin/dcproxy" invoke "$event")
# shellcheck disable=SC2086
rss_curl=$(median_rss $curl)

wall_dcproxy=$(jq '.results[0].median * 1000' "$out/wall.json")
wall_curl=$(jq '.results[1].median * 1000' "$out/wall.json")

awk -v runs="$runs" -v wd="$wall_dcproxy" -v wc="$wall_curl" \
    -v rd="$rss_dcproxy" -v rc="$rss_curl" 'BEGIN {
	printf "%d calls each, one process per call, against %s\n", runs, "a loopback stand-in"
	printf "%-10s %14s %16s\n", "", "median wall", "median peak RSS"
	printf "%-10s %11.2f ms %12d KiB\n", "dcproxy", wd, rd
	printf "%-10s %11.2f ms %12d KiB\n", "curl", wc, rc
	printf "%-10s %13.2fx %15.2fx   (target <= 1.30x)\n", "ratio", wd / wc, rd / rc
}'
