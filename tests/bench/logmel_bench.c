/* logmel_bench.c - time aed_logmel() on one clip (a 16-bit mono 16 kHz WAV)
 * on one thread: prints seconds per clip.
 * Built and run by tests/bench/b03-logmel.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: logmel_bench CLIP.wav N\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	/* RIFF header, then chunks: find "data" (16-bit mono PCM assumed) */
	static unsigned char buf[44 + 2 * 16000 * 60 + 4096];
	size_t len = fread(buf, 1, sizeof buf, f), pos = 12, n = 0;
	fclose(f);
	const unsigned char *data = NULL;
	while (pos + 8 <= len) {
		size_t sz = buf[pos + 4] | buf[pos + 5] << 8 | (size_t)buf[pos + 6] << 16 | (size_t)buf[pos + 7] << 24;
		if (memcmp(buf + pos, "data", 4) == 0) {
			data = buf + pos + 8;
			n = (len - pos - 8 < sz ? len - pos - 8 : sz) / 2;
			break;
		}
		pos += 8 + sz + (sz & 1);
	}
	if (!data || n < 400) {
		fprintf(stderr, "%s: no 16-bit PCM data chunk\n", argv[1]);
		return 1;
	}
	static int16_t pcm[16000 * 60];
	memcpy(pcm, data, n * 2);
	float *x = malloc(n * sizeof *x), *y;
	size_t frames;
	for (size_t i = 0; i < n; i++) /* as clips are stored: v / 32768 */
		x[i] = pcm[i] / 32768.0f;
	int reps = atoi(argv[2]);
	if (aed_logmel(x, n, AED_PRESET_YAMNET, &y, &frames) != AED_OK) { /* plans, warms up */
		fprintf(stderr, "%s\n", aed_last_error());
		return 1;
	}
	free(y);
	double t0 = now();
	for (int i = 0; i < reps; i++) {
		aed_logmel(x, n, AED_PRESET_YAMNET, &y, &frames);
		free(y);
	}
	printf("%.6f\n", (now() - t0) / reps);
	free(x);
	return 0;
}
