#!/bin/sh
# run.sh - run every benchmark (tests/bench/bNN-*.sh) in order. Each prints
# our figure, a named peer's figure from the same run, and their ratio.
# BENCH=pattern runs only matching ones. Output is also kept in build/bench/.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
mkdir -p build/bench
echo "# aedcurate benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
status=0
for b in tests/bench/b[0-9]*.sh; do
	[ -f "$b" ] || continue
	n=$(basename "$b" .sh)
	[ -n "${BENCH:-}" ] && case $n in *$BENCH*) ;; *) continue ;; esac
	echo "## $n"
	if ! sh "$b" 2>&1 | tee "build/bench/$n.txt"; then status=1; fi
done
exit $status
