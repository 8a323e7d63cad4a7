#!/bin/sh
# The RPM packages as an installer sees them: check what each of dcproxy,
# dcproxyd and dcproxy-devel holds (and must not), its config files,
# scriptlets, dependencies and version; install all three into an empty
# root with rpm; then run the installed dcproxy and dcproxyd from that root
# against the stand-in data-collection service, and build the SDK example
# against the installed dcproxy.pc.
#   usage: packaging/rpm/rpm-test.sh OUTDIR BUILDDIR
# OUTDIR holds the RPMs (packaging/rpm/build-rpms.sh); BUILDDIR is a
# configured and built tree providing tests/dcproxy-standin and configure's
# version.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 OUTDIR BUILDDIR" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d)
root=$work/root
standin='' daemon=''
cleanup() {
	for pid in $daemon $standin; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "rpm-test: FAIL: $*" >&2; exit 1; }

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "rpm-test: FAIL: $*" >&2; }
# check WHAT COMMAND...: one check, passed when COMMAND succeeds.
check() {
	what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}

for tool in rpm rpm2cpio cpio rpmspec jq curl pkg-config cc; do
	command -v $tool >/dev/null 2>&1 || fail "needs $tool"
done
version=$(sed -n 's/^PACKAGE_VERSION = //p' "$build/Makefile")
[ -n "$version" ] || fail "no PACKAGE_VERSION in $build/Makefile"
arch=$(rpm --eval '%{_arch}')

# The paths the spec's macros give on this rpm (Debian's: _libdir is
# /usr/lib64, as on Fedora x86_64).
ev() { rpm --eval "$1"; }
bindir=$(ev '%{_bindir}') sbindir=$(ev '%{_sbindir}') libdir=$(ev '%{_libdir}')
sysconfdir=$(ev '%{_sysconfdir}') includedir=$(ev '%{_includedir}')
libexecdir=$(ev '%{_libexecdir}') mandir=$(ev '%{_mandir}')
unitdir=$(ev '%{_unitdir}')
[ "$unitdir" != "%{_unitdir}" ] || unitdir=$(ev '%{_prefix}')/lib/systemd/system
systemd_macros=no
[ "$(ev '%{?systemd_post:1}')" != 1 ] || systemd_macros=yes

# ---- the packages there are
pkg() { echo "$out/$1-$version-1.$2.rpm"; }
main=$(pkg dcproxy "$arch")
daemonpkg=$(pkg dcproxyd "$arch")
devel=$(pkg dcproxy-devel "$arch")
srpm=$(pkg dcproxy src)
for f in "$main" "$daemonpkg" "$devel" "$srpm"; do
	[ -f "$f" ] || fail "no ${f##*/} in $out (have: $(cd "$out" && ls ./*.rpm 2>/dev/null | tr '\n' ' '))"
done
# Nothing else was built: no -debuginfo, no stray subpackage.
n=$(find "$out" -maxdepth 1 -name '*.rpm' | wc -l)
check "$out holds $n RPMs, want 4" [ "$n" -eq 4 ]

for f in "$main" "$daemonpkg" "$devel" "$srpm"; do
	nv=$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE}' "$f" 2>/dev/null)
	# shellcheck disable=SC2086
	set -- $nv
	check "${f##*/}: version $2, configure says $version" [ "$2" = "$version" ]
done
pcversion=$(rpm2cpio "$devel" | cpio -i --quiet --to-stdout ".$libdir/pkgconfig/dcproxy.pc" |
	sed -n 's/^Version: //p')
check "dcproxy.pc says Version $pcversion, configure says $version" \
	[ "$pcversion" = "$version" ]

# ---- file lists: exactly what each package must hold
# Regular files and links of PKG, without rpm's build-id links and docs,
# manual pages without the suffix of whatever compressed them.
pkg_files() {
	rpm -qp --qf '[%{FILEMODES:perms}|%{FILENAMES}\n]' "$1" 2>/dev/null |
		awk -F'|' '$1 !~ /^d/ { print $2 }' |
		grep -v -e '^/usr/lib/\.build-id/' -e '^/usr/share/doc/' \
			-e '^/usr/share/licenses/' |
		sed "s|^\($mandir/.*\)\.\(gz\|bz2\|xz\|zst\)\$|\1|" | LC_ALL=C sort
}
pkg_dirs() {
	rpm -qp --qf '[%{FILEMODES:perms}|%{FILENAMES}\n]' "$1" 2>/dev/null |
		awk -F'|' '$1 ~ /^d/ { print $2 }' |
		grep -v -e '^/usr/lib/\.build-id' -e '^/usr/share/doc/' | LC_ALL=C sort
}
# expect_list WHAT ACTUAL-FILE EXPECTED-FILE
expect_list() {
	if diff -u "$3" "$2" >"$work/diff"; then
		ok
	else
		bad "$1 (- missing, + unexpected):
$(tail -n +3 "$work/diff" | grep '^[-+]')"
	fi
}

# The drop-ins and the plugins they name, from the source tree.
: >"$work/dropins"
: >"$work/plugins"
for ini in "$top"/etc/operations.d/*.ini; do
	echo "$sysconfdir/dcproxy/operations.d/${ini##*/}" >>"$work/dropins"
	p=$(sed -n 's/[;#].*//; s/^[[:space:]]*plugin[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' "$ini")
	echo "$libdir/dcproxy/$p.so" >>"$work/plugins"
done
[ -s "$work/dropins" ] || fail "no drop-ins in $top/etc/operations.d"

{
	echo "$bindir/dcproxy"
	echo "$sysconfdir/dcproxy/operations.ini"
	echo "$mandir/man1/dcproxy.1"
	echo "$mandir/man5/dcproxy-registry.5"
	cat "$work/dropins" "$work/plugins"
} | LC_ALL=C sort >"$work/want.main"
{
	echo "$sbindir/dcproxyd"
	echo "$sysconfdir/dcproxy/dcproxyd.ini"
	echo "$sysconfdir/dcproxy/dcproxyd.env"
	echo "$sysconfdir/dcproxy/limits.json"
	echo "$unitdir/dcproxyd.service"
	echo "$mandir/man8/dcproxyd.8"
} | LC_ALL=C sort >"$work/want.daemon"
{
	echo "$includedir/dcproxy/plugin.h"
	echo "$libdir/pkgconfig/dcproxy.pc"
	echo "$mandir/man3/dcproxy-plugin.3"
} | LC_ALL=C sort >"$work/want.devel"
pkg_files "$main" >"$work/have.main"
pkg_files "$daemonpkg" >"$work/have.daemon"
pkg_files "$devel" >"$work/have.devel"
expect_list "dcproxy's files" "$work/have.main" "$work/want.main"
expect_list "dcproxyd's files" "$work/have.daemon" "$work/want.daemon"
expect_list "dcproxy-devel's files" "$work/have.devel" "$work/want.devel"

# The directories dcproxy owns (dcproxyd and -devel put files in them or
# in directories of their own).
printf '%s\n' "$libdir/dcproxy" "$sysconfdir/dcproxy" \
	"$sysconfdir/dcproxy/operations.d" | LC_ALL=C sort >"$work/want.dirs"
pkg_dirs "$main" >"$work/have.dirs"
expect_list "dcproxy's directories" "$work/have.dirs" "$work/want.dirs"
echo "$includedir/dcproxy" >"$work/want.dirs.devel"
pkg_dirs "$devel" >"$work/have.dirs.devel"
expect_list "dcproxy-devel's directories" "$work/have.dirs.devel" "$work/want.dirs.devel"
pkg_dirs "$daemonpkg" >"$work/have.dirs.daemon"
check "dcproxyd owns no directories" [ ! -s "$work/have.dirs.daemon" ]

# Nothing any of them must not hold, whatever the lists above say.
rpm -qlp "$main" "$daemonpkg" "$devel" 2>/dev/null >"$work/all"
check "no Lambda bootstrap or libexec/dcproxy in the RPMs" \
	sh -c "! grep -q -e '/bootstrap\$' -e '^$libexecdir/dcproxy' '$work/all'"
check "no libtool archive or static library in the RPMs" \
	sh -c "! grep -q -e '\\.la\$' -e '\\.a\$' '$work/all'"
check "no /usr/local path in the RPMs" sh -c "! grep -q '^/usr/local/' '$work/all'"
check "README is dcproxy's doc" \
	sh -c "rpm -qdp '$main' 2>/dev/null | grep -q '/README\$'"

# ---- config files: all under /etc, flagged %config(noreplace)
cfg() {
	rpm -qp --qf '[%{FILEFLAGS:fflags}|%{FILENAMES}\n]' "$1" 2>/dev/null |
		awk -F'|' '$1 ~ /c/ { print $1, $2 }' | LC_ALL=C sort -k2
}
cfg "$main" >"$work/cfg.main"
cfg "$daemonpkg" >"$work/cfg.daemon"
cfg "$devel" >"$work/cfg.devel"
sed 's/^/cn /' "$work/want.main" | grep " $sysconfdir/" | LC_ALL=C sort -k2 >"$work/wantcfg.main"
sed 's/^/cn /' "$work/want.daemon" | grep " $sysconfdir/" | LC_ALL=C sort -k2 >"$work/wantcfg.daemon"
expect_list "dcproxy's %config(noreplace) files" "$work/cfg.main" "$work/wantcfg.main"
expect_list "dcproxyd's %config(noreplace) files" "$work/cfg.daemon" "$work/wantcfg.daemon"
check "dcproxy-devel has no config files" [ ! -s "$work/cfg.devel" ]
# rpm -qc agrees.
rpm -qcp "$main" "$daemonpkg" 2>/dev/null | LC_ALL=C sort >"$work/qc"
sed 's/^cn //' "$work/wantcfg.main" "$work/wantcfg.daemon" | LC_ALL=C sort >"$work/wantqc"
expect_list "rpm -qc lists the registry and the daemon settings" "$work/qc" "$work/wantqc"

# ---- dependencies
rpm -qpR "$daemonpkg" 2>/dev/null >"$work/req.daemon"
rpm -qpR "$devel" 2>/dev/null >"$work/req.devel"
check "dcproxyd requires dcproxy of its own version" \
	grep -qxF "dcproxy$(ev '%{_isa}') = $version-1" "$work/req.daemon"
check "dcproxy-devel requires cjson-devel (dcproxy.pc: Requires: libcjson)" \
	grep -qx cjson-devel "$work/req.devel"
check "dcproxy-devel provides pkgconfig(dcproxy) = $version" \
	sh -c "rpm -qp --provides '$devel' 2>/dev/null | grep -qx 'pkgconfig(dcproxy) = $version'"

# ---- scriptlets: systemd's in dcproxyd when its macros were there
rpm -qp --scripts "$main" "$devel" 2>/dev/null >"$work/scripts.other"
check "dcproxy and dcproxy-devel have no scriptlets" [ ! -s "$work/scripts.other" ]
rpm -qp --scripts "$daemonpkg" 2>/dev/null >"$work/scripts.daemon"
if [ "$systemd_macros" = yes ]; then
	for phase in postinstall preuninstall postuninstall; do
		check "dcproxyd's $phase scriptlet is systemd's for dcproxyd.service" \
			sh -c "sed -n '/^$phase scriptlet/,/scriptlet/p' '$work/scripts.daemon' |
				grep -q 'dcproxyd.service'"
	done
else
	check "no systemd-rpm-macros here: dcproxyd has no scriptlets" \
		[ ! -s "$work/scripts.daemon" ]
fi
# And the other way round, from the source RPM's spec: with systemd's
# macros defined (a stand-in for systemd-rpm-macros), %post, %preun and
# %postun expand to them; without, they are absent and _unitdir falls back.
mkdir -p "$work/srpm"
(cd "$work/srpm" && rpm2cpio "$srpm" | cpio -idm --quiet) || fail "unpack ${srpm##*/}"
spec=$work/srpm/dcproxy.spec
check "the source RPM holds dcproxy.spec and dcproxy-$version.tar.gz" \
	[ -f "$spec" -a -f "$work/srpm/dcproxy-$version.tar.gz" ]
cat >"$work/systemd.macros" <<'EOF'
%_unitdir /usr/lib/systemd/system
%systemd_ordering OrderWithRequires(post): systemd
%systemd_post() systemd-stub post %{?*}
%systemd_preun() systemd-stub preun %{?*}
%systemd_postun_with_restart() systemd-stub postun-restart %{?*}
EOF
rpmspec -P --load "$work/systemd.macros" "$spec" >"$work/with" 2>"$work/with.err" ||
	bad "rpmspec -P with systemd macros: $(cat "$work/with.err")"
for s in "post -n dcproxyd:post" "preun -n dcproxyd:preun" \
	"postun -n dcproxyd:postun-restart"; do
	sect=${s%%:*} call=${s#*:}
	check "with systemd-rpm-macros, %$sect runs %systemd_$call dcproxyd.service" \
		sh -c "sed -n '/^%$sect\$/,/^%/p' '$work/with' |
			grep -qx 'systemd-stub $call dcproxyd.service'"
done
check "with systemd-rpm-macros, dcproxyd has OrderWithRequires(post): systemd" \
	grep -q '^OrderWithRequires(post): systemd' "$work/with"
rpmspec -P "$spec" >"$work/without" 2>/dev/null || bad "rpmspec -P without systemd macros"
check "without them, no %post/%preun/%postun and the unit in /usr/lib/systemd/system" \
	sh -c "! grep -q -e '^%post' -e '^%preun' -e '^%postun' '$work/without' &&
		grep -q -- '--with-systemdsystemunitdir=/usr/lib/systemd/system' '$work/without'"

# ---- payloads: the unit's paths, and no build paths anywhere
mkdir -p "$work/payload"
for f in "$main" "$daemonpkg" "$devel"; do
	(cd "$work/payload" && rpm2cpio "$f" | cpio -idm --quiet) || fail "unpack ${f##*/}"
done
unit=$work/payload$unitdir/dcproxyd.service
check "the unit starts $sbindir/dcproxyd with $sysconfdir/dcproxy/dcproxyd.ini" \
	grep -qx "ExecStart=$sbindir/dcproxyd --config $sysconfdir/dcproxy/dcproxyd.ini" "$unit"
# The rpmbuild tree (build-rpms.sh's default OUTDIR/build), the source and
# the test build: none may appear in any packaged file.
rpmbuild_dir=${DCPROXY_RPM_BUILDDIR:-$out/build}
set -- -e "$top/" -e "$build/" -e "/BUILDROOT/"
[ ! -d "$rpmbuild_dir" ] || set -- "$@" -e "$(cd "$rpmbuild_dir" && pwd)/"
if grep -rlaF "$@" "$work/payload" >"$work/leaks"; then
	bad "build paths in:$(sed "s|^$work/payload| |" "$work/leaks" | tr '\n' ' ')"
else
	ok
fi
# The compiled-in defaults are the packaged locations.
check "dcproxy's default registry and plugin path are $sysconfdir/dcproxy and $libdir/dcproxy" \
	sh -c "'$work/payload$bindir/dcproxy' --help 2>&1 |
		grep -q 'default: $sysconfdir/dcproxy/operations.ini)' &&
	       '$work/payload$bindir/dcproxy' --help 2>&1 | grep -q 'default: $libdir/dcproxy)'"

# ---- install the three into an empty root
mkdir -p "$root"
if [ "$(id -u)" -eq 0 ]; then
	# --nodeps: the libraries they link are Debian's, not in rpm's
	# database; --noscripts: the root has no shell for scriptlets.
	rpm --root "$root" --initdb 2>"$work/rpm.err" || true
	if rpm --root "$root" --nodeps --noscripts -i "$main" "$daemonpkg" "$devel" \
		>"$work/rpm.out" 2>&1; then
		ok
	else
		bad "rpm --root -i: $(cat "$work/rpm.out")"
	fi
	check "rpm --root -qa lists the three packages" sh -c \
		"[ \"\$(rpm --root '$root' -qa --qf '%{NAME}-%{VERSION}\n' | LC_ALL=C sort | tr '\n' ' ')\" = \
		  'dcproxy-$version dcproxy-devel-$version dcproxyd-$version ' ]"
	check "rpm --root -V finds every installed file as packaged" \
		rpm --root "$root" -V --nodeps dcproxy dcproxyd dcproxy-devel
else
	for f in "$main" "$daemonpkg" "$devel"; do
		(cd "$root" && rpm2cpio "$f" | cpio -idm --quiet) || bad "unpack ${f##*/}"
	done
	ok
fi
[ -x "$root$bindir/dcproxy" ] || fail "no $bindir/dcproxy in the installed root"

# ---- run the installed programs from that root
. "$top/tests/servers.sh"
start_server "$build/tests/dcproxy-standin" "$work/standin.url"
standin=$server_pid url=$server_addr
reg=$root$sysconfdir/dcproxy/operations.ini
plugins=$root$libdir/dcproxy
run() {
	env DCPROXY_REGISTRY="$reg" DCPROXY_PLUGIN_PATH="$plugins" \
		DATA_COLLECTION_URL="$url" LOG_LEVEL=error MAX_RETRIES=0 "$@"
}

check "installed dcproxy --version says $version" sh -c \
	"'$root$bindir/dcproxy' --version | grep -q '^dcproxy $version '"
if run "$root$bindir/dcproxy" list >"$work/list" 2>&1; then ok; else
	bad "dcproxy list: $(cat "$work/list")"
fi
nops=$(wc -l <"$work/dropins")
nloaded=$(grep -c "$plugins/" "$work/list" || true)
check "dcproxy list: all $nops operations' plugins from the root ($nloaded):
$(cat "$work/list")" [ "$nloaded" -ge "$nops" ]
check "dcproxy list: nothing from the build tree" \
	sh -c "! grep -q -e '$top/' -e '$build/' '$work/list'"
if run "$root$bindir/dcproxy" invoke '{"operation":"health"}' >"$work/health" 2>"$work/health.err" &&
	jq -e '.statusCode == 200 and .body.success == true and
		.body.data.operation == "health" and
		.body.data.result.status == "healthy"' "$work/health" >/dev/null; then
	ok
else
	bad "dcproxy invoke health: $(cat "$work/health" "$work/health.err")"
fi

# dcproxyd with the installed settings file, on a port of its own.
# (env, not run: $! must be dcproxyd itself, which env becomes.)
env DCPROXY_REGISTRY="$reg" DCPROXY_PLUGIN_PATH="$plugins" \
	DATA_COLLECTION_URL="$url" MAX_RETRIES=0 EA_HOST=127.0.0.1 EA_PORT=0 \
	DCPROXYD_LIMITS_FILE="$root$sysconfdir/dcproxy/limits.json" \
	"$root$sbindir/dcproxyd" --config "$root$sysconfdir/dcproxy/dcproxyd.ini" \
	2>"$work/daemon.log" &
daemon=$!
tries=0
while ! grep -q '"listening on' "$work/daemon.log" 2>/dev/null; do
	tries=$((tries + 1))
	kill -0 "$daemon" 2>/dev/null || fail "dcproxyd exited: $(cat "$work/daemon.log")"
	[ $tries -lt 200 ] || fail "dcproxyd did not listen: $(cat "$work/daemon.log")"
	sleep 0.05
done
port=$(sed -n 's/.*"listening on [^ ]* port \([0-9]*\),.*/\1/p' "$work/daemon.log" | head -n1)
code=$(curl -sS --max-time 10 -o "$work/b" -w '%{http_code}' \
	"http://127.0.0.1:$port/api/v1/health" 2>&1) || true
if [ "$code" = 200 ] && jq -e '.status == "healthy"' "$work/b" >/dev/null 2>&1; then
	ok
else
	bad "dcproxyd GET /api/v1/health: HTTP $code: $(cat "$work/b" 2>/dev/null)"
fi
check "the stand-in saw dcproxyd's GET /api/v1/health" sh -c \
	"curl -sS '$url/_standin/requests' | jq -e 'any(.[]; .method == \"GET\" and .path == \"/api/v1/health\")' >/dev/null"
code=$(curl -sS --max-time 10 -o "$work/b" -w '%{http_code}' \
	"http://127.0.0.1:$port/readyz" 2>&1) || true
check "dcproxyd /readyz: HTTP $code" [ "$code" = 200 ]
kill -TERM "$daemon" 2>/dev/null || true
rc=0
wait "$daemon" || rc=$?
daemon=''
check "dcproxyd exits 0 on SIGTERM (got $rc)" [ "$rc" -eq 0 ]

# ---- the SDK: tests/sdk/quote.c against the installed dcproxy.pc
export PKG_CONFIG_PATH="$root$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
check "installed dcproxy.pc: version $version, ABI 1.0" sh -c \
	"[ \"\$(pkg-config --modversion dcproxy)\" = '$version' ] &&
	 [ \"\$(pkg-config --variable=abi dcproxy)\" = 1.0 ]"
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$work/quote.so" \
	"$top/tests/sdk/quote.c" $(pkg-config --cflags --libs dcproxy) \
	>"$work/cc.log" 2>&1; then
	ok
else
	bad "quote.c against the installed SDK: $(cat "$work/cc.log")"
fi
check "pkg-config's -I is the root's include directory" sh -c \
	"pkg-config --cflags dcproxy | grep -q -- '-I$root$includedir'"
cat >"$root$sysconfdir/dcproxy/operations.d/60-quote.ini" <<INI
[operation quote]
plugin = $work/quote.so
method = GET
route = /api/v1/symbols
service = data-collection
INI
if run "$root$bindir/dcproxy" invoke '{"operation":"quote","params":{"symbol":"ETH/USDT"}}' \
	>"$work/out" 2>/dev/null &&
	jq -e '.body.data.result.quote.symbols | length == 2' "$work/out" >/dev/null; then
	ok
else
	bad "the SDK plugin through the installed dcproxy: $(cat "$work/out")"
fi

echo "rpm-test: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
