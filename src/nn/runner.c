/* runner.c - the YAMNet patch runner (nn.h): the one path from audio to
 * YAMNet's outputs that embed, tag, mine and refine share. A file is decoded
 * to 16 kHz mono and turned into its log-mel (src/audio/), or a stored
 * log-mel is read by the caller; either is cut into 96-frame patches, which
 * go through the backend's run_batch `batch` at a time. In the path of a
 * clip it is the embed step: log-mel arrays in, embedding and score rows out.
 * No database here: callers read and store arrays. */
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/nn.h"

int aed_yamnet_runner_init(struct aed_yamnet_runner *r, const struct aed_yamnet *m,
			   const struct aed_nn_backend_ops *be, int batch, int threads)
{
	struct aed_nn_opts no = { .max_batch = batch, .threads = threads };

	memset(r, 0, sizeof *r);
	if (!be)
		return aed_error(AED_EINTERNAL, "no compute backend");
	r->be = be;
	r->batch = batch > 0 ? batch : 32;
	return be->init(m, &no, &r->state);
}

int aed_yamnet_runner_run(struct aed_yamnet_runner *r, const float *patches, size_t n,
			  float *emb, float *scores)
{
	size_t batch = (size_t)r->batch;
	int rc = AED_OK;

	if (!n)
		return AED_OK;
	/* An output the caller does not keep is written to one batch of
	 * scratch rows, overwritten batch after batch. */
	if ((!emb && !r->emb && !(r->emb = malloc(batch * AED_YAMNET_EMBED_DIM * sizeof *r->emb))) ||
	    (!scores && !r->scores &&
	     !(r->scores = malloc(batch * AED_YAMNET_CLASSES * sizeof *r->scores))))
		return aed_error(AED_ENOMEM, "out of memory for %zu patches", batch);
	for (size_t i = 0; i < n && !rc; i += batch) {
		int k = n - i < batch ? (int)(n - i) : (int)batch;
		rc = r->be->run_batch(r->state, patches + i * AED_YAMNET_PATCH_FLOATS, k,
				      emb ? emb + i * AED_YAMNET_EMBED_DIM : r->emb,
				      scores ? scores + i * AED_YAMNET_CLASSES : r->scores);
	}
	return rc;
}

void aed_yamnet_runner_release(struct aed_yamnet_runner *r)
{
	if (r->state)
		r->be->free(&r->state);
	free(r->emb);
	free(r->scores);
	memset(r, 0, sizeof *r);
}

void aed_yamnet_cut_patches(const float *logmel, size_t frames, int hop, size_t n,
			    float *patches)
{
	const float floor_v = aed_logmel_floor(AED_PRESET_YAMNET);

	for (size_t j = 0; j < n; j++) {
		size_t first = j * (size_t)hop, have = first < frames ? frames - first : 0;
		float *dst = patches + j * AED_YAMNET_PATCH_FLOATS;
		if (have > AED_YAMNET_PATCH_FRAMES)
			have = AED_YAMNET_PATCH_FRAMES;
		if (have)
			memcpy(dst, logmel + first * AED_YAMNET_MEL_BANDS,
			       have * AED_YAMNET_MEL_BANDS * sizeof *dst);
		for (size_t v = have * AED_YAMNET_MEL_BANDS; v < AED_YAMNET_PATCH_FLOATS; v++)
			dst[v] = floor_v;
	}
}

int aed_yamnet_patches(const float *logmel, size_t frames, float **patches, size_t *n)
{
	*n = aed_patch_count(frames, AED_PRESET_YAMNET);
	*patches = malloc((*n ? *n : 1) * AED_YAMNET_PATCH_FLOATS * sizeof **patches);
	if (!*patches)
		return aed_error(AED_ENOMEM, "out of memory for %zu patches", *n);
	aed_yamnet_cut_patches(logmel, frames, AED_YAMNET_PATCH_FRAMES / 2, *n, *patches);
	return AED_OK;
}

int aed_yamnet_file_logmel(const char *path, int pad, float **logmel, size_t *frames,
			   size_t *n_samples)
{
	float *x = NULL;
	size_t n = 0;
	int rc;

	*logmel = NULL;
	*frames = 0;
	if ((rc = aed_decode_range(path, 0, 0, AED_SAMPLE_RATE, &x, &n)))
		goto out;
	if (pad) {
		/* Zero-padded as YAMNet pads a waveform (and as the features
		 * stage covers a stored clip), so the last patch holds the
		 * same samples here as through the pipeline. */
		size_t m = aed_logmel_samples(n, SIZE_MAX, AED_PRESET_YAMNET);
		float *q;
		if (m > n) {
			if (!(q = realloc(x, m * sizeof *x))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			x = q;
			memset(x + n, 0, (m - n) * sizeof *x);
			n = m;
		}
	}
	rc = aed_logmel(x, n, AED_PRESET_YAMNET, logmel, frames);
out:
	if (n_samples)
		*n_samples = n;
	free(x);
	return rc;
}
