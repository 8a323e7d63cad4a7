# servers.sh: start the test servers a build makes (tests/dcproxy-standin,
# tests/dcproxy-lambda-emulator), for the scripts that drive installed
# programs (sourced, not run).  Each server prints its address as the
# first line of its output.

# start_server PROGRAM FILE: PROGRAM in the background, its output in FILE
# and FILE.err; up to 10 s for the address.  Sets server_pid and
# server_addr, or says why on standard error and exits 1.
start_server() {
	"$1" >"$2" 2>"$2.err" &
	server_pid=$!
	tries=0
	while [ ! -s "$2" ]; do
		tries=$((tries + 1))
		if [ $tries -ge 200 ] || ! kill -0 "$server_pid" 2>/dev/null; then
			kill "$server_pid" 2>/dev/null
			echo "${1##*/} did not start: $(cat "$2.err")" >&2
			exit 1
		fi
		sleep 0.05
	done
	server_addr=$(head -n1 "$2")
}
