#!/bin/sh
# build_faiss_sq.sh OUTDIR - FAISS's scalar quantizer compiled for AVX2.
#
# The compressed index that `index build --factory auto` picks above a
# million vectors (PCA256,IVF<n>,SQ8) spends a search scanning 8-bit codes.
# FAISS chooses its AVX2 scanner when faiss/impl/ScalarQuantizer.cpp is
# compiled, and Debian's libfaiss.a is built for any x86-64 CPU, so it scans
# one dimension at a time: about 2.3 times slower here (README, b05). On a
# machine with AVX2, FMA and F16C, this compiles that one file of the same
# Debian source (fetched by build_faiss_capi.sh), against the installed
# headers, into OUTDIR/lib/faiss_sq_simd.o. The Makefile links it ahead of
# libfaiss.a: it defines the same symbols, so the library's own copy is
# never pulled in. It also defines aed_faiss_sq_simd, by which
# src/search/faiss.c refuses to use it on a CPU without those instructions
# (a binary copied to an older machine). Without them, no object is made
# and the build uses Debian's library as it is. OUTDIR/lib/faiss_sq.stamp
# records that the check ran.
set -eu
out=${1:-build/faiss-capi}
out=$(cd "$out" && pwd)
rm -f "$out/lib/faiss_sq_simd.o" "$out/lib/faiss_sq.stamp"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
	src=$(ls -d "$out"/src/faiss-*/ | head -1)
	[ -f "$src/faiss/impl/ScalarQuantizer.cpp" ] ||
		{ echo "build_faiss_sq: no faiss source in $out/src (run build_faiss_capi.sh)" >&2; exit 1; }
	g++ -std=c++17 -O3 -fPIC -fopenmp -mavx2 -mfma -mf16c -I/usr/include \
		-c "$src/faiss/impl/ScalarQuantizer.cpp" -o "$out/obj/ScalarQuantizer_simd.o"
	printf 'extern const int aed_faiss_sq_simd;\nconst int aed_faiss_sq_simd = 1;\n' \
		>"$out/obj/sq_simd_mark.c"
	cc -O2 -fPIC -c "$out/obj/sq_simd_mark.c" -o "$out/obj/sq_simd_mark.o"
	ld -r -o "$out/lib/faiss_sq_simd.o" "$out/obj/ScalarQuantizer_simd.o" "$out/obj/sq_simd_mark.o"
	echo "build_faiss_sq: $out/lib/faiss_sq_simd.o (AVX2, FMA, F16C)"
else
	echo "build_faiss_sq: this CPU lacks AVX2, FMA or F16C; Debian's scalar quantizer is used"
fi
touch "$out/lib/faiss_sq.stamp"
