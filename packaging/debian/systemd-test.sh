#!/bin/sh
# The Debian packages under a real systemd: boot a minimal Debian in a
# container (systemd-nspawn, volatile: nothing it does is kept), install the
# packages there with dpkg so that their maintainer scripts run against a
# running systemd, and check that dcproxyd.service starts, runs as a
# transient unprivileged user inside its sandbox, serves through the
# stand-in on the host's loopback, reloads, restarts, stops cleanly, and is
# gone after a purge.
#   usage: packaging/debian/systemd-test.sh DEBDIR BUILDDIR
# The container's file system is made once with debootstrap (from the
# machine's own Debian mirror) in $DCPROXY_TEST_ROOTFS, by default
# BUILDDIR/../debian-root, and reused.  Needs root.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 DEBDIR BUILDDIR" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
debs=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
rootfs=${DCPROXY_TEST_ROOTFS:-$(dirname "$build")/debian-root}
work=$(mktemp -d)
standin=''
cleanup() {
	[ -z "$standin" ] || kill "$standin" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "systemd-test: FAIL: $*" >&2; exit 1; }

. "$top/tests/deps.sh"
install_deps debootstrap systemd-container

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
for p in dcproxy dcproxyd; do
	[ -f "$debs/${p}_${version}_$arch.deb" ] || fail "no ${p}_${version}_$arch.deb in $debs"
done

# ---- the container's file system: minimal Debian, systemd, curl, and
# what the packages depend on, plus a unit that runs /probe/run.sh at boot
if [ ! -f "$rootfs/.dcproxy-test" ]; then
	. /etc/os-release
	mirror=$(sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p; s/^deb \(http[^ ]*\) .*/\1/p' \
		/etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v security | head -n1)
	rm -rf "$rootfs"
	debootstrap --variant=minbase \
		--include=systemd,systemd-sysv,dbus,curl,libcurl4,libcjson1,libinih1,libltdl7,libmicrohttpd12,libhiredis0.14,libssl3 \
		"$VERSION_CODENAME" "$rootfs" "${mirror:-http://deb.debian.org/debian}" \
		>"$work/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
	cat >"$rootfs/etc/systemd/system/dcproxy-probe.service" <<'UNIT'
[Unit]
Description=dcproxy package probe
ConditionPathExists=/probe/run.sh
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh /probe/run.sh
ExecStopPost=/bin/systemctl poweroff --no-block
[Install]
WantedBy=multi-user.target
UNIT
	ln -sf /etc/systemd/system/dcproxy-probe.service \
		"$rootfs/etc/systemd/system/multi-user.target.wants/dcproxy-probe.service"
	touch "$rootfs/.dcproxy-test"
fi

# ---- the upstream, on the loopback the container shares
. "$top/tests/servers.sh"
start_server "$build/tests/dcproxy-standin" "$work/url"
standin=$server_pid upstream=$server_addr
# Ports nothing here listens on (curl: 7, connection refused).
free() {
	rc=0
	curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$1/" || rc=$?
	[ "$rc" -eq 7 ]
}
port=$(( ($$ % 20000) + 21000 ))
while ! free "$port"; do port=$((port + 1)); done
# The first start uses the default port, 8080, unless something here has it.
default_port=8080
free 8080 || default_port=

# ---- what runs inside, as root, after boot; one "ok WHAT" or
# "FAIL WHAT: DETAIL" line per check in /probe/result
cat >"$work/env" <<EOF
debs="/debs/dcproxy_${version}_$arch.deb /debs/dcproxyd_${version}_$arch.deb"
upstream=$upstream
port=$port
default_port=$default_port
EOF
cat >"$work/run.sh" <<'EOF'
#!/bin/sh
. /probe/env
out=/probe/result
: >$out
ok() { echo "ok $1" >>$out; }
bad() { echo "FAIL $1: $2" >>$out; }
check() { # WHAT COMMAND...
	what=$1
	shift
	if "$@" >/probe/last 2>&1; then ok "$what"; else bad "$what" "$(head -c 300 /probe/last)"; fi
}
prop() { systemctl show dcproxyd -p "$1" --value; }
wait_up() { # PORT: up to 10 s for /healthz
	n=0
	until curl -sf "http://127.0.0.1:$1/healthz" >/dev/null || [ $n -ge 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
}
is() { [ "$1" = "$2" ]; }

# shellcheck disable=SC2086
check "dpkg installs dcproxy and dcproxyd under a running systemd" dpkg -i $debs
check "the install enables dcproxyd.service" is "$(systemctl is-enabled dcproxyd)" enabled
if [ -n "$default_port" ]; then
	wait_up 8080
	check "and starts it on its default port" curl -sf http://127.0.0.1:8080/healthz
fi

# The administrator's part: the upstream's URL and a port.
printf 'DATA_COLLECTION_URL=%s\nEA_PORT=%s\n' "$upstream" "$port" >>/etc/dcproxy/dcproxyd.env
check "systemctl restart" systemctl restart dcproxyd
wait_up "$port"
base=http://127.0.0.1:$port
curl -s "$base/api/v1/health" >/probe/health
check "GET /api/v1/health answers through the stand-in" grep -q '"status":"healthy"' /probe/health
sync='{"symbols":["BTC/USDT:USDT"],"timeframe":"1h","start_date":"2024-01-01","end_date":"2024-01-02"}'
check "POST /api/v1/sync answers through the stand-in" is \
	"$(curl -s -o /dev/null -w '%{http_code}' -d "$sync" "$base/api/v1/sync")" 200
pid=$(prop MainPID)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
check "the service runs as a transient user ($uid), not root" test "$uid" -ge 61184
check "with no capabilities" grep -Eq '^CapEff:[[:space:]]*0+$' "/proc/$pid/status"
check "and the file system read-only" sh -c \
	"awk '\$5 == \"/\" || \$5 == \"/etc\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^ro'"
exposure=$(systemd-analyze security dcproxyd 2>/dev/null |
	sed -n 's/.*exposure level for dcproxyd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security rates its exposure 2.0 or lower ($exposure)" \
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }'

check "systemctl reload" systemctl reload dcproxyd
n=0
until journalctl -u dcproxyd -o cat | grep -q '"reloaded /etc/dcproxy/dcproxyd.ini' || [ $n -ge 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
check "re-reads dcproxyd.ini and the registry" sh -c \
	"journalctl -u dcproxyd -o cat | grep -q 'reloaded /etc/dcproxy/dcproxyd.ini and /etc/dcproxy/operations.ini: 5 operations'"
check "the same process goes on serving" is "$(prop MainPID) $(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" "$pid 200"
systemctl stop dcproxyd
check "systemctl stop: a clean exit" is "$(prop Result) $(prop ExecMainStatus)" "success 0"
check "dpkg --purge" dpkg --purge dcproxyd dcproxy
check "leaves no unit, file or enablement behind" sh -c \
	"! ls -d /etc/dcproxy /lib/systemd/system/dcproxyd.service /usr/sbin/dcproxyd \
	   /etc/systemd/system/multi-user.target.wants/dcproxyd.service 2>/dev/null"
journalctl -u dcproxyd -o cat >/probe/journal 2>&1
echo done >>$out
EOF

timeout 300 systemd-nspawn --quiet --register=no --keep-unit --volatile=overlay \
	--bind-ro="$debs:/debs" --bind="$work:/probe" -D "$rootfs" --boot \
	>"$work/boot.log" 2>&1 || true
[ -f "$work/result" ] || { tail -n 30 "$work/boot.log" >&2; fail "the container did not run the probe"; }
passed=$(grep -c '^ok ' "$work/result" || true)
failed=$(grep -c '^FAIL ' "$work/result" || true)
grep '^FAIL ' "$work/result" | sed 's/^/systemd-test: /' >&2 || true
if ! grep -qx done "$work/result"; then
	failed=$((failed + 1))
	echo "systemd-test: FAIL: the probe did not finish" >&2
fi
[ -n "$default_port" ] ||
	echo "systemd-test: port 8080 is in use here: the start on the default port was not checked"
[ "$failed" -eq 0 ] || { echo "--- journal"; cat "$work/journal" 2>/dev/null; } >&2
echo "systemd-test: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
