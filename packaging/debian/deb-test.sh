#!/bin/sh
# The Debian packages as an administrator uses them: check what each holds,
# install all three with apt on this machine, use the installed command and
# service with their default paths (no override points into a build tree)
# against the stand-in data-collection service, build and register a
# plugin with the installed SDK, check that an edited conffile survives a
# reinstall, then purge and check that nothing is left.
#   usage: packaging/debian/deb-test.sh DEBDIR BUILDDIR
# DEBDIR holds build-debs.sh's output; BUILDDIR provides tests/dcproxy-standin.
# Installs into / and purges at the end: run it as root on a machine where
# dcproxy's packages are not in use.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 DEBDIR BUILDDIR" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
debs=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d)
standin='' daemon=''
installed=no
cleanup() {
	for pid in $daemon $standin; do
		kill "$pid" 2>/dev/null || true
	done
	[ "$installed" = no ] ||
		apt-get purge -y -qq dcproxy-dev dcproxyd dcproxy >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "deb-test: FAIL: $*" >&2; }
check() { # WHAT COMMAND...: one check, passed when COMMAND succeeds
	what=$1
	shift
	if "$@" >"$work/out" 2>&1; then ok; else bad "$what: $(head -c 600 "$work/out")"; fi
}

. "$top/tests/deps.sh"
install_deps lintian systemd

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
cli=$debs/dcproxy_${version}_$arch.deb
daemon_deb=$debs/dcproxyd_${version}_$arch.deb
dev=$debs/dcproxy-dev_${version}_$arch.deb
for deb in "$cli" "$daemon_deb" "$dev"; do
	[ -f "$deb" ] || fail "no $deb: run packaging/debian/build-debs.sh first"
done

# ---- what each package holds
contents() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'; }
has() { # DEB PATH...
	deb=$1
	shift
	contents "$deb" >"$work/list"
	for path in "$@"; do
		grep -qx "$path" "$work/list" || { echo "$path missing"; return 1; }
	done
}
lacks() { # DEB REGEX
	! contents "$1" | grep -E "$2"
}
plugins=/usr/lib/$multiarch/dcproxy
check "dcproxy holds the command, five plugins and the registry" has "$cli" \
	/usr/bin/dcproxy /etc/dcproxy/operations.ini \
	"$plugins/health.so" "$plugins/fetch_ohlcv.so" "$plugins/symbols.so" \
	"$plugins/status.so" "$plugins/ensure_data.so" \
	/etc/dcproxy/operations.d/10-health.ini /etc/dcproxy/operations.d/50-ensure-data.ini \
	/usr/share/man/man1/dcproxy.1.gz /usr/share/man/man5/dcproxy-registry.5.gz
check "dcproxyd holds the service, its settings and its unit" has "$daemon_deb" \
	/usr/sbin/dcproxyd /etc/dcproxy/dcproxyd.ini /etc/dcproxy/dcproxyd.env \
	/etc/dcproxy/limits.json /lib/systemd/system/dcproxyd.service \
	/usr/share/man/man8/dcproxyd.8.gz
check "dcproxy-dev holds the SDK" has "$dev" \
	/usr/include/dcproxy/plugin.h "/usr/lib/$multiarch/pkgconfig/dcproxy.pc" \
	/usr/share/man/man3/dcproxy-plugin.3.gz
for deb in "$cli" "$daemon_deb" "$dev"; do
	check "${deb##*/} holds no Lambda runtime, libtool archive or shared engine" \
		lacks "$deb" 'bootstrap|\.la$|libdcproxy'
done
conffiles() { dpkg-deb -f "$1" Package >/dev/null && dpkg-deb --ctrl-tarfile "$1" |
	tar -xO ./conffiles 2>/dev/null | sort | tr '\n' ' '; }
check "the registry files are conffiles" test "$(conffiles "$cli")" = \
	"/etc/dcproxy/operations.d/10-health.ini /etc/dcproxy/operations.d/20-fetch_ohlcv.ini /etc/dcproxy/operations.d/30-symbols.ini /etc/dcproxy/operations.d/40-status.ini /etc/dcproxy/operations.d/50-ensure-data.ini /etc/dcproxy/operations.ini "
check "the service's settings are conffiles" test "$(conffiles "$daemon_deb")" = \
	"/etc/dcproxy/dcproxyd.env /etc/dcproxy/dcproxyd.ini /etc/dcproxy/limits.json "
check "dcproxyd depends on the same dcproxy" sh -c \
	"dpkg-deb -f '$daemon_deb' Depends | grep -q 'dcproxy (= $version)'"
check "postinst enables and starts dcproxyd.service" sh -c \
	"dpkg-deb --ctrl-tarfile '$daemon_deb' | tar -xO ./postinst |
	 grep -q \"deb-systemd-helper enable 'dcproxyd.service'\""
# No path of the machine that built them: the binaries say where to look
# only in terms of /etc and /usr.
for deb in "$cli" "$daemon_deb" "$dev"; do
	rm -rf "$work/x" && mkdir "$work/x" && dpkg-deb -x "$deb" "$work/x"
	check "${deb##*/} names no build directory" sh -c \
		"! grep -rlaE '/src/dcproxy-$version|$top|$build' '$work/x'"
done

# Errors only, and of those not the missing licence, which is the
# project's to name (debian/copyright says so).
lintian --suppress-tags license-problem-undefined-license \
	"$debs/dcproxy_${version}_$arch.changes" >"$work/lintian" 2>&1 || true
check "lintian reports no errors" sh -c "! grep '^E:' '$work/lintian'"

# ---- installed with apt, its dependencies from the archive
apt-get purge -y -qq dcproxy-dev dcproxyd dcproxy >/dev/null 2>&1 || true
installed=yes
check "apt installs the three packages" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "$cli" "$daemon_deb" "$dev"
check "dpkg knows them as installed" sh -c \
	"dpkg-query -W -f '\${Status} \${Version}\n' dcproxy dcproxyd dcproxy-dev |
	 grep -c 'install ok installed $version' | grep -qx 3"

. "$top/tests/servers.sh"
start_server "$build/tests/dcproxy-standin" "$work/url"
standin=$server_pid upstream=$server_addr

# The command, with nothing but the upstream's URL set.
check "dcproxy list: five operations load from the installed paths" sh -c \
	"dcproxy list >'$work/list.out' && [ \$(grep -c loaded '$work/list.out') -eq 5 ]"
DATA_COLLECTION_URL=$upstream dcproxy invoke '{"operation":"health"}' \
	>"$work/health" 2>/dev/null || true
check "dcproxy invoke health answers through the stand-in" \
	jq -e '.body.success == true and .body.data.result.status == "healthy"' "$work/health"

# The unit as systemd reads it, and the service as the unit starts it:
# its ExecStart, its EnvironmentFile, an unprivileged user.
unit=/lib/systemd/system/dcproxyd.service
check "systemd-analyze verify accepts the unit" systemd-analyze verify --man=no "$unit"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check "the unit starts the installed dcproxyd with the installed settings" \
	test "$exec_start" = "/usr/sbin/dcproxyd --config /etc/dcproxy/dcproxyd.ini"
check "the unit reads /etc/dcproxy/dcproxyd.env" grep -qx \
	'EnvironmentFile=-/etc/dcproxy/dcproxyd.env' "$unit"
# shellcheck disable=SC2086
(set -a && . /etc/dcproxy/dcproxyd.env && exec setpriv --reuid=nobody --regid=nogroup \
	--clear-groups env EA_PORT=0 DATA_COLLECTION_URL="$upstream" $exec_start) \
	2>"$work/daemon.log" &
daemon=$!
n=0
while ! grep -q '"listening on' "$work/daemon.log"; do
	n=$((n + 1))
	[ $n -lt 100 ] && kill -0 "$daemon" 2>/dev/null ||
		fail "dcproxyd did not start: $(cat "$work/daemon.log")"
	sleep 0.05
done
port=$(sed -n 's/.*"listening on [^ ]* port \([0-9]*\),.*/\1/p' "$work/daemon.log" | head -n1)
get() { curl -s --max-time 10 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$port$1"; }
check "dcproxyd as nobody: GET /api/v1/health is 200 and healthy" sh -c \
	"[ \"\$(curl -s --max-time 10 -o '$work/body' -w '%{http_code}' \
	   http://127.0.0.1:$port/api/v1/health)\" = 200 ] &&
	 jq -e '.status == \"healthy\"' '$work/body'"
check "dcproxyd as nobody: GET /healthz is 200" test "$(get /healthz)" = 200
kill -HUP "$daemon"
n=0
while ! grep -q '"reloaded /etc/dcproxy/dcproxyd.ini' "$work/daemon.log" && [ $n -lt 100 ]; do
	n=$((n + 1))
	sleep 0.05
done
check "a reload (SIGHUP) re-reads the installed settings" \
	grep -q '"reloaded /etc/dcproxy/dcproxyd.ini and /etc/dcproxy/operations.ini: 5 operations' \
	"$work/daemon.log"
check "and it still serves" test "$(get /healthz)" = 200
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
daemon=''
check "SIGTERM: dcproxyd exits 0" test "$rc" = 0

# ---- a third-party plugin with the installed SDK, nothing else
pluginsdir=$(pkg-config --variable=pluginsdir dcproxy)
dropins=$(pkg-config --variable=registrydir dcproxy)
check "dcproxy.pc names the installed plugin and drop-in directories" \
	test "$pluginsdir $dropins" = "$plugins /etc/dcproxy/operations.d"
# shellcheck disable=SC2046
check "tests/sdk/quote.c builds with pkg-config dcproxy alone" \
	cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$pluginsdir/quote.so" \
	"$top/tests/sdk/quote.c" $(pkg-config --cflags --libs dcproxy)
cat >"$dropins/60-quote.ini" <<INI
[operation quote]
plugin = quote
method = GET
route = /api/v1/symbols
service = data-collection
INI
check "dcproxy list shows the dropped-in operation loaded" sh -c \
	"dcproxy list | awk '\$0 == \"quote\" { on = 1 } on && /^\$/ { exit } on' |
	 grep -q 'status: *loaded'"
rm -f "$pluginsdir/quote.so" "$dropins/60-quote.ini"

# ---- an edited conffile survives a reinstall; purge leaves nothing
echo "; edited by the administrator" >>/etc/dcproxy/dcproxyd.ini
check "reinstalling keeps an edited dcproxyd.ini" sh -c \
	"dpkg -i --force-confold '$daemon_deb' >/dev/null &&
	 tail -n1 /etc/dcproxy/dcproxyd.ini | grep -q 'edited by the administrator'"
check "apt purges the three packages" env DEBIAN_FRONTEND=noninteractive \
	apt-get purge -y -qq dcproxy-dev dcproxyd dcproxy
installed=no
check "purge leaves no file behind" sh -c \
	"! ls -d /etc/dcproxy /usr/bin/dcproxy /usr/sbin/dcproxyd '$plugins' \
	   /usr/include/dcproxy $unit 2>/dev/null"

echo "deb-test: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
