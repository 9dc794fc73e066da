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
# libfaiss.a when the CPU it runs on has them: it defines the same global
# symbols, so the library's own copy is never pulled in. It also defines
# aed_faiss_sq_simd, by which src/search/faiss.c refuses to use it on a CPU
# without those instructions (a binary copied to an older machine). Without
# them, no object is made and the build uses Debian's library as it is.
# OUTDIR/lib/faiss_sq.stamp records that the check ran; it is made again
# when libfaiss.a changes (a libfaiss-dev upgrade).
set -eu
out=${1:-build/faiss-capi}
out=$(cd "$out" && pwd)
rm -f "$out/lib/faiss_sq_simd.o" "$out/lib/faiss_sq.stamp"
# simd SRC: the object, or 1 (and nothing) when something is not as expected.
simd() {
	src=$1
	# The file's own code for AVX2, FMA and F16C; the headers it includes
	# first, as they are (included again, their guards skip them), so that
	# the inline functions and templates of FAISS's headers it also emits
	# (heap helpers, vector growth) stay code for any x86-64 CPU: the
	# linker may keep its copies of those for every caller. g++ does not
	# define the target macros for a target pragma, and FAISS chooses its
	# AVX2 code by them.
	w=$out/obj/sq_simd.cpp
	{
		grep '^#include' "$src/faiss/impl/ScalarQuantizer.cpp"
		echo '#include <immintrin.h>'
		echo '#pragma GCC target("avx2,fma,f16c")'
		echo '#define __AVX2__ 1'
		echo '#define __FMA__ 1'
		echo '#define __F16C__ 1'
		echo "#include \"$src/faiss/impl/ScalarQuantizer.cpp\""
	} >"$w" || return 1
	o=$out/obj/ScalarQuantizer_simd.o
	g++ -std=c++17 -O3 -fPIC -fopenmp -I/usr/include -c "$w" -o "$o" || return 1
	# Both checked: the 8-wide scanners are there, and no function the
	# linker may share holds an AVX (VEX-encoded) instruction.
	nm -C "$o" | grep -q 'SimilarityL2<8>' || { echo "build_faiss_sq: no AVX2 scanner"; return 1; }
	for f in $(nm --defined-only "$o" | awk '$2 == "W" { print $3 }'); do
		if objdump -d --no-show-raw-insn --disassemble="$f" "$o" | grep -qE '^ +[0-9a-f]+:\s+v[a-z]'; then
			echo "build_faiss_sq: the shared function $f holds AVX code"
			return 1
		fi
	done
	printf 'extern const int aed_faiss_sq_simd;\nconst int aed_faiss_sq_simd = 1;\n' \
		>"$out/obj/sq_simd_mark.c" &&
		cc -O2 -fPIC -c "$out/obj/sq_simd_mark.c" -o "$out/obj/sq_simd_mark.o" &&
		ld -r -o "$out/lib/faiss_sq_simd.o" "$o" "$out/obj/sq_simd_mark.o"
}

if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
	# The source of the installed version (build_faiss_capi.sh fetched it).
	ver=$(dpkg-query -W -f='${Version}' libfaiss-dev)
	up=$(echo "$ver" | sed 's/+b[0-9]*$//; s/-[^-]*$//; s/^[0-9]*://')
	if [ ! -f "$out/src/faiss-$up/faiss/impl/ScalarQuantizer.cpp" ]; then
		echo "build_faiss_sq: no faiss $up source in $out/src; Debian's scalar quantizer is used"
	elif simd "$out/src/faiss-$up"; then
		echo "build_faiss_sq: $out/lib/faiss_sq_simd.o (faiss $up, its scalar quantizer for AVX2, FMA, F16C)"
	else
		rm -f "$out/lib/faiss_sq_simd.o"
		echo "build_faiss_sq: Debian's scalar quantizer is used"
	fi
else
	echo "build_faiss_sq: this CPU lacks AVX2, FMA or F16C; Debian's scalar quantizer is used"
fi
touch "$out/lib/faiss_sq.stamp"
