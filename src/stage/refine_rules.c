/* refine_rules.c - the refinement rules of refine.h, pure functions over one
 * segment's scores or frames: the maxnorm and hysteresis masks, the
 * consensus of fine patches, and the energy gate. In the path of a clip they
 * turn refine's frame scores into the kept masks stored beside its labels.
 * No database, no model. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/refine.h"

int aed_refine_method_parse(const char *s, enum aed_refine_method *out)
{
	if (!strcmp(s, "maxnorm"))
		*out = AED_REFINE_MAXNORM;
	else if (!strcmp(s, "hysteresis"))
		*out = AED_REFINE_HYSTERESIS;
	else if (!strcmp(s, "consensus"))
		*out = AED_REFINE_CONSENSUS;
	else
		return aed_error(AED_EUSAGE, "unknown refinement method '%s' (maxnorm, hysteresis, "
				 "consensus)", s);
	return AED_OK;
}

const char *aed_refine_method_name(enum aed_refine_method m)
{
	return m == AED_REFINE_MAXNORM ? "maxnorm" : m == AED_REFINE_HYSTERESIS ? "hysteresis" :
	       "consensus";
}

size_t aed_refine_mask(const float *scores, size_t n, enum aed_refine_method m,
		       double high, double low, uint8_t *mask)
{
	float mx = 0;
	size_t kept = 0;

	memset(mask, 0, n);
	for (size_t i = 0; i < n; i++)
		if (scores[i] > mx)
			mx = scores[i];
	if (!(mx > 0))
		return 0;
	for (size_t i = 0; i < n; i++)
		mask[i] = scores[i] / mx >= high;
	if (m != AED_REFINE_MAXNORM) {
		/* Grow each kept run both ways through patches with n_i >= low:
		 * forward then backward passes reach every connected patch. */
		for (size_t i = 1; i < n; i++)
			if (!mask[i] && mask[i - 1] && scores[i] / mx >= low)
				mask[i] = 1;
		for (size_t i = n - 1; i-- > 0;)
			if (!mask[i] && mask[i + 1] && scores[i] / mx >= low)
				mask[i] = 1;
	}
	for (size_t i = 0; i < n; i++)
		kept += mask[i];
	return kept;
}

static long floor_div(long a, long b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

size_t aed_consensus_frames(const uint8_t *kept, size_t n_patches, int hop, int len,
			    double share, uint8_t *frames, size_t n_frames)
{
	size_t n_kept = 0;

	for (size_t f = 0; f < n_frames; f++) {
		/* Patch positions j (of any sign) with j*hop <= f < j*hop + len;
		 * those before the clip or past its last patch count as not
		 * kept, so the clip's edges need as many agreeing patches as
		 * its middle. */
		long hi = floor_div((long)f, hop), lo = floor_div((long)f - len, hop) + 1;
		size_t yes = 0;
		for (long j = lo > 0 ? lo : 0; j <= hi && j < (long)n_patches; j++)
			yes += kept[j] != 0;
		frames[f] = hi >= lo && (double)yes >= share * (double)(hi - lo + 1) - 1e-9;
	}
	for (size_t f = 0; f < n_frames; f++)
		n_kept += frames[f];
	return n_kept;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* The median of the n levels where frames[f] == keep (NULL: all n); buf
 * has room for n. */
static double median_level(const float *level, size_t n, const uint8_t *frames, int keep,
			   float *buf)
{
	size_t m = 0;
	for (size_t f = 0; f < n; f++)
		if (!frames || (frames[f] != 0) == keep)
			buf[m++] = level[f];
	if (m == 0)
		return 0;
	qsort(buf, m, sizeof *buf, cmp_float);
	return m % 2 ? buf[m / 2] : 0.5 * ((double)buf[m / 2 - 1] + buf[m / 2]);
}

size_t aed_energy_gate(const float *level, size_t n, uint8_t *frames, double margin_db,
		       double peak_db, int max_gap)
{
	size_t outside = 0, kept = 0;
	float *buf;
	double bg;

	for (size_t f = 0; f < n; f++)
		outside += !frames[f];
	if (outside == n || !(buf = malloc(n * sizeof *buf))) {
		/* Nothing kept, or no memory for the median: the mask stays. */
		for (size_t f = 0; f < n; f++)
			kept += frames[f];
		return kept;
	}
	bg = outside >= AED_GATE_MIN_BACKGROUND ? median_level(level, n, frames, 0, buf) :
						  median_level(level, n, NULL, 0, buf);
	free(buf);
	for (size_t a = 0; a < n;) {
		size_t b = a, last = SIZE_MAX;
		if (!frames[a]) {
			a++;
			continue;
		}
		while (b < n && frames[b])
			b++;
		/* Run [a, b): keep its loud frames and the short gaps between. */
		double floor_db = bg + margin_db;
		if (peak_db > 0) {
			float peak = level[a];
			for (size_t f = a + 1; f < b; f++)
				peak = level[f] > peak ? level[f] : peak;
			if ((double)peak - peak_db > floor_db)
				floor_db = (double)peak - peak_db;
		}
		for (size_t f = a; f < b; f++) {
			int loud = (double)level[f] >= floor_db;
			if (!loud)
				continue;
			if (last != SIZE_MAX && f - last - 1 < (size_t)max_gap)
				for (size_t g = last + 1; g < f; g++)
					frames[g] = 2;
			frames[f] = 2;
			last = f;
		}
		for (size_t f = a; f < b; f++)
			frames[f] = last == SIZE_MAX ? 1 : frames[f] == 2;
		a = b;
	}
	for (size_t f = 0; f < n; f++)
		kept += frames[f];
	return kept;
}

size_t aed_fine_patch_count(size_t frames, int hop)
{
	if (frames == 0)
		return 0;
	if (frames <= AED_PATCH_FRAMES)
		return 1;
	return 1 + (frames - AED_PATCH_FRAMES + (size_t)hop - 1) / (size_t)hop;
}
