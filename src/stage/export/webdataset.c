/* webdataset.c - one WebDataset sample's tar members: the bulk (FLAC audio,
 * log-mel and embedding arrays) prepared by a worker thread, then KEY.flac,
 * KEY.json, the target arrays (labels, soft, mask .npy) and the payload
 * arrays written in order by shards.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/flac.h"
#include "aedcurate/npy.h"
#include "aedcurate/tar.h"
#include "stage/export/internal.h"

static int add_npy(struct aed_tar *t, const char *key, const char *what, const struct aed_array *a)
{
	struct aed_buf b = { 0 };
	char name[AED_TAR_NAME_MAX + 1];
	int nd = a->dims[2] > 1 ? 3 : a->dims[1] > 1 ? 2 : 1;
	int rc = aed_npy_encode(a->dtype, nd, a->dims, a->data, &b);
	snprintf(name, sizeof name, "%s.%s.npy", key, what);
	if (!rc)
		rc = aed_tar_add(t, name, b.data, b.len);
	aed_buf_release(&b);
	return rc;
}

static int add_json(struct aed_tar *t, const char *key, json_t *j)
{
	char name[AED_TAR_NAME_MAX + 1];
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (!s)
		return aed_error(AED_ENOMEM, "export: JSON of %s", key);
	snprintf(name, sizeof name, "%s.json", key);
	int rc = aed_tar_add(t, name, s, strlen(s));
	free(s);
	return rc;
}

static int add_npy_nd(struct aed_tar *t, const char *key, const char *what, enum aed_dtype dt,
		      int nd, const int64_t *dims, const void *data)
{
	struct aed_buf b = { 0 };
	char name[AED_TAR_NAME_MAX + 1];
	int rc = aed_npy_encode(dt, nd, dims, data, &b);
	snprintf(name, sizeof name, "%s.%s.npy", key, what);
	if (!rc)
		rc = aed_tar_add(t, name, b.data, b.len);
	aed_buf_release(&b);
	return rc;
}

static int col_of_mid(const struct ex *x, const char *mid)
{
	for (int c = 0; c < x->n_cols; c++)
		if (!strcmp(x->cls[x->col_cls[c]].mid, mid))
			return c;
	return -1;
}

/* The trainer's arrays of a sample, from its classes and its JSON's soft
 * labels and frames: KEY.labels.npy; KEY.soft.npy where a soft label exists;
 * KEY.mask.npy [patches, columns] where a frame mask exists. */
static int add_targets(const struct ex *x, struct aed_tar *t, const char *key, const int *cls,
		       int n, json_t *j)
{
	size_t nc = (size_t)x->n_cols;
	float *row = malloc((nc + 1) * sizeof *row), *soft = NULL;
	uint8_t *mask = NULL;
	json_t *sl = json_object_get(j, "soft_labels"), *fr = json_object_get(j, "frames"), *v;
	const char *mid;
	int rc;

	if (!row)
		return aed_error(AED_ENOMEM, "export: out of memory");
	ex_target_row(x, cls, n, row);
	int64_t d1[1] = { (int64_t)nc };
	if ((rc = add_npy_nd(t, key, "labels", AED_F32, 1, d1, row)))
		goto out;
	if (json_object_size(sl)) {
		if (!(soft = malloc((nc + 1) * sizeof *soft))) {
			rc = aed_error(AED_ENOMEM, "export: out of memory");
			goto out;
		}
		memcpy(soft, row, nc * sizeof *soft);
		json_object_foreach(sl, mid, v) {
			int c = col_of_mid(x, mid);
			if (c >= 0)
				soft[c] = (float)json_real_value(json_object_get(v, "target"));
		}
		if ((rc = add_npy_nd(t, key, "soft", AED_F32, 1, d1, soft)))
			goto out;
	}
	if (json_object_size(fr)) {
		size_t np = 0;
		json_object_foreach(fr, mid, v) {
			size_t m = json_array_size(json_object_get(v, "mask"));
			np = m > np ? m : np;
		}
		if (!(mask = malloc(np * nc + 1))) {
			rc = aed_error(AED_ENOMEM, "export: out of memory");
			goto out;
		}
		for (size_t p = 0; p < np; p++)
			for (size_t c = 0; c < nc; c++)
				mask[p * nc + c] = row[c] > 0;
		json_object_foreach(fr, mid, v) {
			int c = col_of_mid(x, mid);
			json_t *ma = json_object_get(v, "mask");
			for (size_t p = 0; c >= 0 && p < np; p++)
				mask[p * nc + (size_t)c] = p < json_array_size(ma) &&
							   json_integer_value(json_array_get(ma, p)) != 0;
		}
		int64_t d2[2] = { (int64_t)np, (int64_t)nc };
		if (np && (rc = add_npy_nd(t, key, "mask", AED_U8, 2, d2, mask)))
			goto out;
	}
out:
	free(row);
	free(soft);
	free(mask);
	return rc;
}

void ex_prep_release(struct prep *p)
{
	aed_buf_release(&p->flac);
	aed_array_release(&p->logmel);
	aed_array_release(&p->emb);
	memset(p, 0, sizeof *p);
}

int ex_prep_sample(const struct ex *x, struct aed_db *db, const struct xsample *sm,
		   struct prep *p)
{
	struct aed_array clip = { 0 };
	int16_t *mixpcm = NULL;
	float *mixf = NULL, *mel = NULL;
	int audio = !!(x->opt.payload & AED_PAYLOAD_AUDIO);
	int rc = AED_OK;

	if (sm->seg >= 0) {
		const struct xseg *g = &x->seg[sm->seg];
		p->n_audio = (size_t)g->n_samples;
		if (audio) {
			if ((rc = aed_array_get(db, "clip", g->id, &clip)))
				goto out;
			if (clip.dtype != AED_I16 || (size_t)g->n_samples > clip.nbytes / sizeof(int16_t)) {
				rc = aed_error(AED_EFORMAT, "export: clip of %s: not i16 of %lld samples", g->key,
					       (long long)g->n_samples);
				goto out;
			}
			if ((rc = aed_flac_encode_s16(clip.data, (size_t)g->n_samples, AED_SAMPLE_RATE,
						      &p->flac)))
				goto out;
		}
		if (x->opt.payload & AED_PAYLOAD_LOGMEL &&
		    (rc = aed_array_get(db, "logmel_yamnet", g->id, &p->logmel)))
			goto out;
		if (x->opt.payload & AED_PAYLOAD_EMBEDDING &&
		    (rc = aed_array_get(db, "embedding", g->id, &p->emb)))
			goto out;
	} else {
		const struct xmix *m = &x->mix[sm->mix];
		size_t n = 0;
		if ((rc = ex_render_mix(x, db, m, &mixpcm, &n)))
			goto out;
		p->n_audio = n;
		if (audio && (rc = aed_flac_encode_s16(mixpcm, n, AED_SAMPLE_RATE, &p->flac)))
			goto out;
		if (x->opt.payload & AED_PAYLOAD_LOGMEL) {
			/* as the features stage: over the mix's real samples, padded as
			 * YAMNet pads them, within the stored clip length */
			size_t total = (size_t)x->seg[m->a].n_total, frames = 0;
			if (total < n)
				total = n;
			total = aed_logmel_samples(n, total, AED_PRESET_YAMNET);
			mixf = calloc(total + 1, sizeof *mixf);
			if (!mixf) {
				rc = aed_error(AED_ENOMEM, "export: out of memory");
				goto out;
			}
			aed_s16_to_f32(mixpcm, n, mixf);
			if ((rc = aed_logmel(mixf, total, AED_PRESET_YAMNET, &mel, &frames)))
				goto out;
			p->logmel = (struct aed_array){ .dtype = AED_F32,
							.dims = { (int64_t)frames, AED_MEL_BANDS, 1 },
							.data = mel,
							.nbytes = frames * AED_MEL_BANDS * sizeof(float) };
			mel = NULL;
		}
	}
out:
	aed_array_release(&clip);
	free(mixpcm);
	free(mixf);
	free(mel);
	return rc;
}

/* Write one prepared sample: .flac, .json, .logmel.npy, .embedding.npy. */
int ex_wds_emit(struct ex *x, const struct xsample *sm, const struct prep *p, struct aed_tar *t)
{
	const char *split = x->opt.splits[sm->split].name;
	const char *key = sm->key;
	int audio = !!(x->opt.payload & AED_PAYLOAD_AUDIO);
	json_t *j = NULL;
	char name[AED_TAR_NAME_MAX + 1];
	int rc = AED_OK;

	/* Member names are KEY.EXT; a mix's key joins its two clips' keys, so a
	 * long manifest id can make them long: the tar writer stores those in pax
	 * records, and a key too long even for that is named here. */
	if (strlen(key) + sizeof ".embedding.npy" > sizeof name)
		return aed_error(AED_EFORMAT, "export: sample key of %zu bytes is too long for a tar "
				 "member name (%d bytes at most): %.80s...", strlen(key),
				 AED_TAR_NAME_MAX, key);
	if (audio) {
		snprintf(name, sizeof name, "%s.flac", key);
		if ((rc = aed_tar_add(t, name, p->flac.data ? p->flac.data : "", p->flac.len)))
			goto out;
	}
	if (sm->seg >= 0)
		rc = ex_seg_json(x, &x->seg[sm->seg], split, audio, &j);
	else
		rc = ex_mix_json(x, &x->mix[sm->mix], split, p->n_audio, audio, &j);
	if (!rc)
		rc = add_json(t, key, j);
	if (!rc && sm->seg >= 0)
		rc = add_targets(x, t, key, x->seg[sm->seg].cls, x->seg[sm->seg].n_cls, j);
	else if (!rc)
		rc = add_targets(x, t, key, x->mix[sm->mix].cls_union, x->mix[sm->mix].n_cls, j);
	json_decref(j);
	if (!rc && x->opt.payload & AED_PAYLOAD_LOGMEL)
		rc = add_npy(t, key, "logmel", &p->logmel);
	if (!rc && x->opt.payload & AED_PAYLOAD_EMBEDDING && sm->seg >= 0)
		rc = add_npy(t, key, "embedding", &p->emb);
out:
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", aed_last_error());
		rc = aed_error(rc, "export: sample %s: %s", key, msg);
	}
	return rc;
}
