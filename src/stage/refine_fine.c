/* refine_fine.c - consensus, refinement finer than a patch (refine.h,
 * AED_REFINE_CONSENSUS): each labelled segment's stored log-mel cut into
 * patches every hop_frames frames, run through YAMNet (the patch runner of
 * nn.h) and the trained classifier, kept by hysteresis, agreed into 10 ms
 * frame masks, gated by energy, and turned back into patch masks. In the
 * path of a clip: log-mel arrays in, the fine masks refine stores out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/nn.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "stage/refine_internal.h"

#define FINE_BATCH 32

/* Frame levels for the energy gate, dB: the log-mel holds log(mel +
 * offset), so exp() gives the mel magnitudes. */
static void frame_levels(const float *logmel, size_t frames, float *level)
{
	for (size_t f = 0; f < frames; f++) {
		const float *row = logmel + f * AED_MEL_BANDS;
		double sum = 0;
		for (int m = 0; m < AED_MEL_BANDS; m++)
			sum += exp((double)row[m]);
		level[f] = (float)(10.0 * log10(sum));
	}
}

/* Pair `at` (segment, class): its frame mask from the nf fine patches kept
 * (consensus, then the energy gate), and the mask of the segment's np
 * patches that those frames give. *a, *b: interval scratch, grown here. */
static int fine_masks(const struct aed_refine_opts *o, struct corpus *c, size_t at, size_t np,
		      size_t frames, const uint8_t *kept, size_t nf, const float *level,
		      double **a, double **b)
{
	size_t ni = 0, run = 0;

	c->fine[at] = malloc(frames ? frames : 1);
	c->fine_patch[at] = calloc(np ? np : 1, 1);
	*a = realloc(*a, (frames / 2 + 1) * sizeof **a);
	*b = realloc(*b, (frames / 2 + 1) * sizeof **b);
	if (!c->fine[at] || !c->fine_patch[at] || !*a || !*b)
		return aed_error(AED_ENOMEM, "out of memory");
	c->n_fine[at] = frames;
	aed_consensus_frames(kept, nf, o->hop_frames, AED_PATCH_FRAMES, o->consensus, c->fine[at],
			     frames);
	if (o->gate)
		aed_energy_gate(level, frames, c->fine[at], o->gate_db, o->gate_peak, o->gate_gap);
	/* Runs of kept frames as intervals, then patches by the
	 * half-overlap rule. */
	for (size_t f = 0; f <= frames; f++) {
		int on = f < frames && c->fine[at][f];
		if (on && !run++)
			(*a)[ni] = (double)f * 0.01;
		if (!on && run) {
			(*b)[ni++] = (double)f * 0.01;
			run = 0;
		}
	}
	aed_intervals_to_patches(*a, *b, ni, AED_PATCH_HOP_S, AED_PATCH_LEN_S, c->fine_patch[at],
				 np);
	return AED_OK;
}

/* For every labelled (segment, class) pair: fine patches every o->hop_frames
 * log-mel frames through YAMNet (and the classifier, with the inputs it was
 * trained on), kept by hysteresis on their max-normalised scores, then the
 * frames the kept ones agree on, and the patch mask those frames give. */
int refine_fine_pass(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c)
{
	const struct aed_nn_backend_ops *be = aed_nn_backend(NULL);
	struct aed_yamnet_runner rn = { 0 };
	struct aed_yamnet *ym = NULL;
	char *path = NULL;
	float *patches = NULL, *emb = NULL, *ysc = NULL, *x = NULL, *p = NULL, *col = NULL;
	float *ptmp = NULL;
	float *level = NULL;
	uint8_t *kept = NULL;
	double *a = NULL, *b = NULL;
	size_t cap = 0;
	int rc, hop = o->hop_frames;

	c->fine = calloc(c->nseg * c->nt + 1, sizeof *c->fine);
	c->fine_patch = calloc(c->nseg * c->nt + 1, sizeof *c->fine_patch);
	c->n_fine = calloc(c->nseg * c->nt + 1, sizeof *c->n_fine);
	if (!c->fine || !c->fine_patch || !c->n_fine)
		return aed_error(AED_ENOMEM, "out of memory");
	if (!be)
		return aed_error(AED_EINTERNAL, "refine --method consensus: no compute backend");
	if ((rc = aed_yamnet_find_model(o->model_path, &path)) || (rc = aed_yamnet_load(path, &ym)) ||
	    (rc = aed_yamnet_runner_init(&rn, ym, be, FINE_BATCH, 0)))
		goto out;
	for (size_t i = 0; i < c->nseg; i++) {
		struct aed_array lm = { 0 };
		size_t frames, nf, np = c->off[i + 1] - c->off[i];
		int any = 0;
		for (size_t k = 0; k < c->nt; k++)
			any |= c->lab[i * c->nt + k];
		if (!any)
			continue;
		if ((rc = aed_array_get(db, "logmel_yamnet", c->seg[i], &lm))) {
			if (rc == AED_ENOTFOUND)
				rc = aed_error(rc, "refine --method consensus: segment %lld has no "
					       "log-mel array (run `aedcurate features`)",
					       (long long)c->seg[i]);
			goto out;
		}
		if (lm.dtype != AED_F32 || lm.dims[1] != AED_MEL_BANDS) {
			aed_array_release(&lm);
			rc = aed_error(AED_EFORMAT, "segment %lld: logmel_yamnet is not f32 [n, %d]",
				       (long long)c->seg[i], AED_MEL_BANDS);
			goto out;
		}
		frames = (size_t)lm.dims[0];
		nf = aed_fine_patch_count(frames, hop);
		if (nf > cap) {
			float *q;
			cap = nf;
#define REGROW(ptr, n) ((q = realloc(ptr, (n) * sizeof *q)) ? ((ptr) = q, 1) : 0)
			if (!REGROW(patches, nf * AED_YAMNET_PATCH_FLOATS) ||
			    !REGROW(emb, nf * AED_YAMNET_EMBED_DIM) ||
			    !REGROW(ysc, nf * AED_YAMNET_CLASSES) ||
			    !REGROW(x, nf * (size_t)c->dim) || !REGROW(p, nf * c->nt) ||
			    !REGROW(ptmp, nf * c->nt) ||
			    !REGROW(col, nf) || !(kept = realloc(kept, nf))) {
#undef REGROW
				aed_array_release(&lm);
				rc = aed_error(AED_ENOMEM, "out of memory for %zu fine patches", nf);
				goto out;
			}
		}
		aed_yamnet_cut_patches(lm.data, frames, hop, nf, patches);
		if (o->gate) {
			float *q = realloc(level, (frames ? frames : 1) * sizeof *q);
			if (!q) {
				aed_array_release(&lm);
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			level = q;
			frame_levels(lm.data, frames, level);
		}
		aed_array_release(&lm);
		if ((rc = aed_yamnet_runner_run(&rn, patches, nf, emb, ysc)))
			goto out;
		if (c->n_model) {
			for (size_t j = 0; j < nf; j++)
				refine_input_row(x + j * (size_t)c->dim, c->dim,
						 emb + j * AED_YAMNET_EMBED_DIM,
						 ysc + j * AED_YAMNET_CLASSES);
			if ((rc = refine_ensemble_predict(c, x, nf, p, ptmp)))
				goto out;
		}
		for (size_t k = 0; k < c->nt; k++) {
			size_t at = i * c->nt + k;
			if (!c->lab[at])
				continue;
			for (size_t j = 0; j < nf; j++)
				col[j] = c->n_model ? p[j * c->nt + k] :
					 c->t[k].yam >= 0 ? ysc[j * AED_YAMNET_CLASSES + c->t[k].yam] : 0;
			aed_refine_mask(col, nf, AED_REFINE_HYSTERESIS, o->threshold, o->low, kept);
			if ((rc = fine_masks(o, c, at, np, frames, kept, nf, level, &a, &b)))
				goto out;
		}
	}
out:
	aed_yamnet_runner_release(&rn);
	aed_yamnet_free(&ym);
	free(path);
	free(patches);
	free(emb);
	free(ysc);
	free(x);
	free(p);
	free(col);
	free(ptmp);
	free(level);
	free(kept);
	free(a);
	free(b);
	return rc;
}
