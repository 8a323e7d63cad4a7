#!/bin/sh
# Build the AWS Lambda layers of dcproxy for provided.al2023 (x86_64).
# Layers unpack into /opt, so the build uses --prefix=/opt and the compiled-in
# defaults are /opt/etc/dcproxy/operations.ini and /opt/lib/dcproxy.
#
#   dcproxy-core-layer.zip           bootstrap (the engine linked in), every
#                                    shared library it needs that AL2023 does
#                                    not guarantee (all but glibc) in lib/,
#                                    etc/dcproxy/operations.ini
#   dcproxy-op-NAME-layer.zip        lib/dcproxy/PLUGIN.so and
#                                    etc/dcproxy/operations.d/NN-NAME.ini,
#                                    one per installed drop-in
#   dcproxy-ops-layer.zip            all of those in one layer (a function
#                                    takes at most five layers)
#   dcproxy-function.zip             the function's own package: a README
#
# Also copies template.yaml beside the zips, for `sam deploy` from OUTDIR.
#   usage: packaging/lambda/build-layers.sh SRCDIR OUTDIR
#   env:   DCPROXY_LAYER_BUILDDIR (default OUTDIR/build), SOURCE_DATE_EPOCH
#          (zip entry times; default 315532800, 1980-01-01, zip's earliest)
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 SRCDIR OUTDIR" >&2
	exit 2
fi
top=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
build=${DCPROXY_LAYER_BUILDDIR:-$out/build}
fail() { echo "build-layers: $*" >&2; exit 1; }
# Run from `make lambda-layers`, the outer make's flags and variable
# overrides (CFLAGS=...) must not reach this build.
unset MAKEFLAGS MFLAGS MAKELEVEL

# AL2023's glibc: nothing bundled may need a newer symbol version.
glibc_max=2.34
epoch=${SOURCE_DATE_EPOCH:-315532800}

. "$top/tests/deps.sh"
install_deps zip unzip binutils
jobs=$(nproc 2>/dev/null || echo 2)

mkdir -p "$build"
build=$(cd "$build" && pwd)
src=$top
if [ -f "$top/config.status" ]; then
	# Configured in-tree: automake refuses a second build of that tree, so
	# build from its distribution directory instead.
	rm -rf "$build/src"
	make -s -C "$top" distdir distdir="$build/src" >/dev/null ||
		fail "make distdir in $top failed"
	src=$build/src
elif [ ! -x "$top/configure" ]; then
	(cd "$top" && ./autogen.sh >/dev/null)
fi

cd "$build"
# DT_RPATH (not RUNPATH) $ORIGIN/lib: bootstrap finds lib/ beside it without
# LD_LIBRARY_PATH, for its own libraries and theirs alike, and ahead of
# Lambda's LD_LIBRARY_PATH, which lists /lib64 and /usr/lib64 before /opt/lib.
# The \$$ reaches make as $$, the shell as \$ and the linker as $.  No -g:
# debug info holds build paths, and the build ID hashes it.
ldflags='-Wl,--disable-new-dtags,-rpath,\$$ORIGIN/lib'
cflags='-O2'
stamp="prefix=/opt CFLAGS=$cflags LDFLAGS=$ldflags src=$src"
if [ ! -f Makefile ] || [ "$(cat .layer-config 2>/dev/null)" != "$stamp" ]; then
	[ ! -f Makefile ] || make -s distclean >/dev/null 2>&1 || true
	srctop=$top
	top=$src
	configure_build --prefix=/opt CFLAGS="$cflags" LDFLAGS="$ldflags"
	top=$srctop
	echo "$stamp" >.layer-config
fi
make -s -j"$jobs" >"$build/make.log" 2>&1 || { cat "$build/make.log"; fail "make failed"; }
rm -rf stage
make -s install DESTDIR="$build/stage" >"$build/install.log" 2>&1 ||
	{ cat "$build/install.log"; fail "make install failed"; }
opt=$build/stage/opt
[ -x "$opt/libexec/dcproxy/bootstrap" ] || fail "no libexec/dcproxy/bootstrap installed"

layers=$build/layers
rm -rf "$layers"
core=$layers/core
mkdir -p "$core/lib" "$core/etc/dcproxy"
cp "$opt/libexec/dcproxy/bootstrap" "$core/bootstrap"
cp "$opt/etc/dcproxy/operations.ini" "$core/etc/dcproxy/"

readelf -d "$core/bootstrap" | grep -q 'RPATH.*\$ORIGIN/lib' ||
	fail "bootstrap has no \$ORIGIN/lib rpath: $(readelf -d "$core/bootstrap" | grep PATH)"

# True for the libraries every glibc system has; all others get bundled.
is_glibc() {
	case $1 in
	libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | \
	libresolv.so.* | ld-linux*.so.* | linux-vdso.so.* | linux-gate.so.*) return 0 ;;
	esac
	return 1
}

# "NAME PATH" for each library in the ldd closure of $1, "NAME not" when
# missing; the vdso and the loader, which have no "=>", are left out.
closure() {
	LD_LIBRARY_PATH=$2 ldd "$1" | awk '$2 == "=>" { print $1, $3 }'
}

# bootstrap links the engine in (core/Makefile.inc), and plugins need
# nothing from it.  The soname is the only name the loader asks for.
closure "$core/bootstrap" "$opt/lib" >"$build/ldd.txt" || fail "ldd bootstrap failed"
while read -r name path; do
	[ "$path" != not ] || fail "bootstrap needs $name: not found"
	is_glibc "$name" && continue
	[ -e "$core/lib/$name" ] && continue
	cp -L "$path" "$core/lib/$name"
done <"$build/ldd.txt"

# One layer per drop-in, named after it and holding the plugin it names.
found=0
for ini in "$opt/etc/dcproxy/operations.d/"*.ini; do
	[ -f "$ini" ] || continue
	base=$(basename "$ini" .ini)
	name=${base#[0-9][0-9]-}
	plugin=$(sed -n 's/[;#].*//; s/^[[:space:]]*plugin[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' "$ini")
	case $plugin in
	"") fail "$ini: no plugin = line" ;;
	*/*) fail "$ini: plugin '$plugin' is a path; an in-tree layer needs a name" ;;
	esac
	so=$opt/lib/dcproxy/$plugin.so
	[ -f "$so" ] || fail "$ini names plugin $plugin, but $so is not installed"
	dir=$layers/op-$name
	mkdir -p "$dir/lib/dcproxy" "$dir/etc/dcproxy/operations.d"
	cp "$so" "$dir/lib/dcproxy/"
	cp "$ini" "$dir/etc/dcproxy/operations.d/"
	# Whatever the plugin links must come with the core layer or glibc.
	closure "$so" "$core/lib" >"$build/ldd.txt" || fail "ldd $so failed"
	while read -r lib path; do
		[ "$path" != not ] || fail "plugin $plugin needs $lib: not found"
		is_glibc "$lib" || [ -f "$core/lib/$lib" ] ||
			fail "plugin $plugin needs $lib, which the core layer does not bundle"
	done <"$build/ldd.txt"
	found=$((found + 1))
done
[ "$found" -gt 0 ] || fail "no operation drop-ins installed"
# A function takes at most five layers, core included: all operations in one
# layer as well, which is what template.yaml attaches.
mkdir -p "$layers/ops"
for dir in "$layers"/op-*; do
	cp -R "$dir/." "$layers/ops/"
done

# Strip, check symbol versions and build paths, fix modes and times.
for dir in "$layers"/*; do
	find "$dir" -type f \( -name bootstrap -o -name '*.so' -o -name '*.so.*' \) |
		LC_ALL=C sort >"$build/elves.txt"
	while read -r f; do
		strip --strip-unneeded "$f" || fail "strip $f failed"
		need=$(objdump -T "$f" | sed -n 's/.*GLIBC_\([0-9][0-9.]*\).*/\1/p' |
			sort -uV | tail -n1)
		if [ -n "$need" ] && [ "$need" != "$glibc_max" ] &&
		   [ "$(printf '%s\n%s\n' "$need" "$glibc_max" | sort -V | tail -n1)" = "$need" ]; then
			fail "${f#"$layers"/} needs GLIBC_$need, newer than AL2023's $glibc_max:
$(objdump -T "$f" | grep "GLIBC_$need")"
		fi
	done <"$build/elves.txt"
	find "$dir" -type f | while read -r f; do
		if strings -a "$f" | grep -qF -e "$build" -e "$top" -e "$src"; then
			echo "build-layers: ${f#"$layers"/} holds a build path:" >&2
			strings -a "$f" | grep -F -e "$build" -e "$top" -e "$src" | head -n5 >&2
			exit 1
		fi
	done || exit 1
	find "$dir" -type d -exec chmod 0755 {} +
	find "$dir" -type f -exec chmod 0644 {} +
done
chmod 0755 "$core/bootstrap"

# Deterministic zips: sorted names, no extra attributes (-X), fixed times.
zip_layer() { # DIR ZIP
	rm -f "$2"
	find "$1" -mindepth 1 -exec touch -h -d "@$epoch" {} +
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' |
		TZ=UTC zip -X -q "$2" -@) || fail "zip $2 failed"
	if unzip -Z1 "$2" | grep -qF -e "$build" -e "$top"; then
		fail "$2 lists a build path"
	fi
}

rm -f "$out"/dcproxy-*.zip
zip_layer "$core" "$out/dcproxy-core-layer.zip"
unzip -Z "$out/dcproxy-core-layer.zip" bootstrap | grep -q '^-rwxr-xr-x' ||
	fail "bootstrap lost its mode in the zip"
for dir in "$layers"/op-* "$layers/ops"; do
	zip_layer "$dir" "$out/dcproxy-${dir##*/}-layer.zip"
done
# The function's own package: Lambda wants one, the code is in the layers.
fn=$layers/function
mkdir -p "$fn"
printf '%s\n' "dcproxy runs from its layers: /opt/bootstrap, /opt/lib," \
	"/opt/etc/dcproxy/operations.ini and operations.d/." >"$fn/README"
chmod 0644 "$fn/README"
zip_layer "$fn" "$out/dcproxy-function.zip"

cp "$src/packaging/lambda/template.yaml" "$out/template.yaml"
# The template names each zip; a new in-tree operation needs its entry.
sed -n 's/^ *[A-Za-z]*Uri: *\([^ ]*\.zip\)$/\1/p' "$out/template.yaml" |
	while read -r uri; do
		[ -f "$out/$uri" ] || fail "template.yaml names $uri, which was not built"
	done
for z in "$out"/dcproxy-op-*-layer.zip; do
	grep -q "ContentUri: ${z##*/}\$" "$out/template.yaml" ||
		echo "build-layers: warning: template.yaml does not deploy ${z##*/}" >&2
done

echo "build-layers: $out"
for z in "$out"/dcproxy-*-layer.zip; do
	printf '  %-36s %8s bytes, %2s files\n' "${z##*/}" "$(wc -c <"$z")" \
		"$(unzip -Z1 "$z" | grep -vc '/$')"
done
