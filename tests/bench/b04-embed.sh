#!/bin/sh
# b04-embed.sh - YAMNet on the CPU: patches per second with 2 threads, the
# network's multiply-adds per patch, and the GFLOP/s it achieves next to
# OpenBLAS SGEMM's GFLOP/s on a large square product measured in the same run
# (the peer). Goal: the whole network at >= 40% of the SGEMM rate.
# Both are also given per CPU-second (process CPU time), which a machine
# shared with other work disturbs much less than wall-clock time.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AED=${AEDCURATE_BIN:-$ROOT/bin/aedcurate}
SHARED=${AEDCURATE_SHARED:-$ROOT/../shared}
export AEDCURATE_SHARED=$SHARED
US=$SHARED/data/audio/urbansound8k
[ -f "$US/manifest.csv" ] && [ -f "$SHARED/models/yamnet/yamnet.tflite" ] || { echo "# skip: no shared data"; exit 0; }
THREADS=${BENCH_THREADS:-2}
CLIPS=${BENCH_CLIPS:-200}
W=$(mktemp -d "${TMPDIR:-/tmp}/aedb04.XXXXXX")
trap 'rm -rf "$W"' EXIT
export AEDCURATE_DB=$W/b.db

# Inputs: log-mels of real clips (4 s, 8 patches each).
{ echo path; awk -F, 'NR > 1 { print $1 }' "$US/manifest.csv" | head -"$CLIPS" | sed "s|^|$US/|"; } >"$W/m.csv"
$AED init -q && $AED ontology ingest -q "$SHARED/data/audioset/ontology.json" >/dev/null &&
	$AED segments ingest -q --format manifest "$W/m.csv" >/dev/null && $AED fetch -q &&
	$AED decode -q --clip-seconds 4 && $AED features -q || { echo "b04: set-up failed"; exit 1; }

# The network: best of 2 runs (--redo recomputes everything).
best=0; patches=0; secs=0; cpu=0
for i in 1 2; do
	/usr/bin/time -f "%U %S" -o "$W/time" $AED embed --redo --threads "$THREADS" --batch 32 --json >"$W/e.json" ||
		{ echo "b04: embed failed"; exit 1; }
	set -- $(/usr/bin/python3 -c "import json; d=json.load(open('$W/e.json')); print(d['patches'], d['net_seconds'], d['patches_per_second'])") $(cat "$W/time")
	if /usr/bin/python3 -c "import sys; sys.exit(0 if $3 > $best else 1)"; then
		patches=$1; secs=$2; best=$3; cpu=$(/usr/bin/python3 -c "print($4 + $5)")
	fi
done
macs=$(sqlite3 "$AEDCURATE_DB" "SELECT macs FROM model")

# The peer: OpenBLAS SGEMM, 2048^3, same thread count, best of 5.
cat >"$W/sgemm.c" <<'C'
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv)
{
	int n = 2048, threads = atoi(argv[1]);
	float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
	      *c = malloc(sizeof(float) * n * n);
	for (int i = 0; i < n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.2f; }
	openblas_set_num_threads(threads);
	double best = 1e9, best_cpu = 1e9;
	for (int r = 0; r < 6; r++) {
		struct timespec t0, t1, c0, c1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
		double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
		double dc = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
		if (r > 0 && dt < best) best = dt;
		if (r > 0 && dc < best_cpu) best_cpu = dc;
	}
	double f = 2.0 * n * n * (double)n / 1e9;
	printf("%.2f %.2f\n", f / best, f / best_cpu);
	return c[7] < 0;
}
C
cc -O2 -o "$W/sgemm" "$W/sgemm.c" -lopenblas || { echo "b04: cannot build the SGEMM peer"; exit 1; }
set -- $("$W/sgemm" "$THREADS")
peer=$1; peer_cpu=$2

/usr/bin/python3 - "$patches" "$secs" "$best" "$macs" "$peer" "$THREADS" "$cpu" "$peer_cpu" <<'PY'
import sys
patches, secs, pps, macs, peer, threads, cpu, peer_cpu = sys.argv[1:]
patches, secs, pps, macs, peer = int(patches), float(secs), float(pps), int(macs), float(peer)
cpu, peer_cpu = float(cpu), float(peer_cpu)
gflops = 2.0 * macs * pps / 1e9
gflops_cpu = 2.0 * macs * patches / cpu / 1e9
print("ours: YAMNet embed, %s threads, batch 32: %d patches in %.2f s of network time = %.1f patches/s"
      % (threads, patches, secs, pps))
print("      %.2f M multiply-adds per patch (%.1f MFLOP) -> %.1f GFLOP/s" % (macs / 1e6, 2 * macs / 1e6, gflops))
print("peer: OpenBLAS SGEMM 2048x2048x2048, %s threads: %.1f GFLOP/s" % (threads, peer))
print("ratio: network / SGEMM = %.2f (goal >= 0.40)" % (gflops / peer))
print("per CPU-second: network %.1f GFLOP/s (whole embed process, %.2f s CPU), SGEMM %.1f GFLOP/s,"
      " ratio %.2f" % (gflops_cpu, cpu, peer_cpu, gflops_cpu / peer_cpu))
PY
