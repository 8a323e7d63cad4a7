#!/bin/sh
# Install what is missing, build, start the stand-in data-collection service
# on loopback and run the main job: the ensure-data event of the spec, as a
# Step Functions state would send it.  Prints the response envelope.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
install_deps

build_in demo

fifo=$(mktemp -u)
mkfifo "$fifo"
tests/dcproxy-standin >"$fifo" &
standin=$!
trap 'kill $standin 2>/dev/null; rm -f "$fifo"' EXIT INT TERM
read -r url <"$fifo"
echo "stand-in data-collection service: $url" >&2

DATA_COLLECTION_URL=$url \
DCPROXY_REGISTRY=$top/etc/operations.ini \
DCPROXY_PLUGIN_PATH=$PWD/plugins/.libs \
LOG_LEVEL=${LOG_LEVEL:-warn} \
./dcproxy invoke '{
  "operation": "ensure-data",
  "params": {
    "symbols": ["BTC/USDT:USDT"],
    "timeframe": "1h",
    "start_date": "20240201",
    "end_date": "20240228",
    "exchange": "binance_futures"
  }
}' 2>/dev/null | { command -v jq >/dev/null && jq . || cat; }
