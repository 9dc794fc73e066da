#!/bin/sh
# build_faiss_capi.sh OUTDIR - build FAISS's C API as a static library.
#
# Debian's libfaiss-dev ships libfaiss.a and the C API headers, but not the
# compiled C API (faiss/c_api/*.cpp). This fetches Debian's own faiss source
# package (the version matching the installed libfaiss-dev) and compiles the
# C API wrappers against the installed headers into OUTDIR/lib/libfaiss_c.a.
# Nothing from the source package is kept in the repository.
set -eu
out=${1:-build/faiss-capi}
mkdir -p "$out/src" "$out/lib" "$out/obj"
out=$(cd "$out" && pwd)
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

ver=$(dpkg-query -W -f='${Version}' libfaiss-dev 2>/dev/null || true)
[ -n "$ver" ] || { echo "build_faiss_capi: libfaiss-dev is not installed (run make deps)" >&2; exit 1; }
srcver=$(echo "$ver" | sed 's/+b[0-9]*$//')

if ! ls "$out"/src/faiss-*/c_api/Index_c.cpp >/dev/null 2>&1; then
	if ! apt-get source --print-uris faiss="$srcver" >/dev/null 2>&1 ||
	   [ -z "$(apt-get source --print-uris faiss="$srcver" 2>/dev/null | grep "'")" ]; then
		# Add deb-src lines mirroring the configured Debian deb lines.
		list=/etc/apt/sources.list.d/aedcurate-deb-src.list
		codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
		echo "deb-src http://deb.debian.org/debian $codename main" | $SUDO tee "$list" >/dev/null
		$SUDO apt-get update -qq
	fi
	(cd "$out/src" && apt-get source -qq faiss="$srcver" >/dev/null)
fi
src=$(ls -d "$out"/src/faiss-*/ | head -1)
[ -f "$src/c_api/Index_c.cpp" ] || { echo "build_faiss_capi: no c_api in $src" >&2; exit 1; }

mkdir -p "$out/include"
rm -rf "$out/include/faiss"
mkdir -p "$out/include/faiss"
# C headers from the source tree, so they match the compiled wrappers.
(cd "$src" && find c_api -name '*.h' | while read -r h; do
	mkdir -p "$out/include/faiss/$(dirname "$h")"; cp "$h" "$out/include/faiss/$h"; done)

objs=
for f in $(cd "$src" && find c_api -name '*.cpp' ! -path '*gpu*' | sort); do
	o="$out/obj/$(echo "$f" | tr / _ | sed 's/\.cpp$/.o/')"
	g++ -std=c++17 -O2 -fPIC -fopenmp -I"$src" -I/usr/include -c "$src/$f" -o "$o"
	objs="$objs $o"
done
rm -f "$out/lib/libfaiss_c.a"
ar rcs "$out/lib/libfaiss_c.a" $objs
echo "build_faiss_capi: $out/lib/libfaiss_c.a from faiss $srcver"
