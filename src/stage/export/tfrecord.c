/* tfrecord.c - the TFRecord format's values: the PCA fitted over the corpus's
 * per-second embeddings (written beside the shards as pca*.npy, pca.json) and
 * one clip's AudioSet-layout SequenceExample of quantised 128-d rows. The math
 * is in src/search/pca.c, the framing in src/format/tfrecord.c; shards.c
 * writes the records. */
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/npy.h"
#include "aedcurate/tfrecord.h"
#include "stage/export/internal.h"

#define PCA_MAX_ROWS 60000   /* rows the PCA fit reads at most */

static size_t n_seconds(int64_t n_samples, int64_t n_total)
{
	int64_t real = n_samples < n_total ? n_samples : n_total;
	size_t s = (size_t)((real + AED_SAMPLE_RATE - 1) / AED_SAMPLE_RATE);
	return s ? s : 1;
}

int ex_fit_pca(struct ex *x)
{
	sqlite3_stmt *st = NULL;
	int64_t *ids = NULL, *ns = NULL, *nt = NULL;
	size_t n = 0, cap = 0, rows_est = 0, n_rows = 0;
	float *rows = NULL;
	int rc, s;

	if ((rc = aed_db_prepare(x->db,
				 "SELECT e.segment_id, c.n_samples, c.n_total FROM embedding e "
				 "JOIN clip c ON c.segment_id = e.segment_id ORDER BY e.segment_id", &st)))
		return rc;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			int64_t *a = realloc(ids, cap * sizeof *a), *b = a ? realloc(ns, cap * sizeof *b) : NULL,
				*c = b ? realloc(nt, cap * sizeof *c) : NULL;
			if (a)
				ids = a;
			if (b)
				ns = b;
			if (c)
				nt = c;
			if (!a || !b || !c) {
				rc = aed_error(AED_ENOMEM, "export: out of memory");
				goto out;
			}
		}
		ids[n] = sqlite3_column_int64(st, 0);
		ns[n] = sqlite3_column_int64(st, 1);
		nt[n] = sqlite3_column_int64(st, 2);
		rows_est += n_seconds(ns[n], nt[n]);
		n++;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: embedded segments");
		goto out;
	}
	size_t stride = rows_est > PCA_MAX_ROWS ? (rows_est + PCA_MAX_ROWS - 1) / PCA_MAX_ROWS : 1;
	size_t need = 0;
	for (size_t i = 0; i < n; i += stride)
		need += n_seconds(ns[i], nt[i]);
	rows = malloc((need + 1) * EMBED_DIM * sizeof *rows);
	if (!rows) {
		rc = aed_error(AED_ENOMEM, "export: out of memory for the PCA rows");
		goto out;
	}
	for (size_t i = 0; i < n; i += stride) {
		struct aed_array a = { 0 };
		if ((rc = aed_array_get(x->db, "embedding", ids[i], &a)))
			goto out;
		if (a.dtype != AED_F32 || a.dims[1] != EMBED_DIM) {
			aed_array_release(&a);
			rc = aed_error(AED_EFORMAT, "export: embedding of segment %lld is not f32 [n, %d]",
				       (long long)ids[i], EMBED_DIM);
			goto out;
		}
		size_t sec = n_seconds(ns[i], nt[i]);
		aed_pool_seconds(a.data, (size_t)a.dims[0], EMBED_DIM, sec, rows + n_rows * EMBED_DIM);
		n_rows += sec;
		aed_array_release(&a);
	}
	if (n_rows < 2) {
		rc = aed_error(AED_ESTATE, "export: the PCA needs embeddings of at least 2 seconds of "
			       "audio (run `aedcurate embed`)");
		goto out;
	}
	if ((rc = aed_pca_fit(rows, n_rows, EMBED_DIM, AED_PCA_DIM, &x->pca)))
		goto out;
	x->have_pca = 1;
out:
	sqlite3_finalize(st);
	free(ids);
	free(ns);
	free(nt);
	free(rows);
	return rc;
}

int ex_write_pca(struct ex *x, const char *dir)
{
	char path[4096];
	float *m = malloc(EMBED_DIM * sizeof *m), *c = malloc((size_t)AED_PCA_DIM * EMBED_DIM * sizeof *c);
	json_t *j = NULL, *ev = json_array();
	int rc = AED_OK;

	if (!m || !c) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	for (int i = 0; i < EMBED_DIM; i++)
		m[i] = (float)x->pca.mean[i];
	for (size_t i = 0; i < (size_t)AED_PCA_DIM * EMBED_DIM; i++)
		c[i] = (float)x->pca.components[i];
	int64_t dm[1] = { EMBED_DIM }, dc[2] = { AED_PCA_DIM, EMBED_DIM };
	snprintf(path, sizeof path, "%s/pca_mean.npy", dir);
	if ((rc = aed_npy_write(path, AED_F32, 1, dm, m)))
		goto out;
	snprintf(path, sizeof path, "%s/pca_components.npy", dir);
	if ((rc = aed_npy_write(path, AED_F32, 2, dc, c)))
		goto out;
	for (int k = 0; k < AED_PCA_DIM; k++)
		json_array_append_new(ev, json_real(x->pca.eigenvalues[k]));
	j = json_pack("{s:i, s:i, s:I, s:b, s:s, s:s, s:o}", "dim_in", EMBED_DIM, "dim_out",
		      AED_PCA_DIM, "n_rows", (json_int_t)x->pca.n_rows, "whiten", 1, "pooling",
		      "second s = mean of the YAMNet patches overlapping [s, s+1); patch i covers "
		      "[0.48 i, 0.48 i + 0.96) s",
		      "quantisation",
		      "y_k = (components[k] . (x - mean)) / sqrt(eigenvalues[k]); byte = "
		      "floor((clip(y, -2, 2) + 2) * 255 / 4)",
		      "eigenvalues", ev);
	ev = NULL;
	char *s = j ? json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) : NULL;
	snprintf(path, sizeof path, "%s/pca.json", dir);
	rc = s ? aed_write_file_atomic(path, s, strlen(s)) : aed_error(AED_ENOMEM, "export: JSON");
	free(s);
out:
	json_decref(j);
	json_decref(ev);
	free(m);
	free(c);
	return rc;
}

/* The AudioSet-layout record of one real clip. */
int ex_tfrecord_sample(struct ex *x, const struct xseg *g, struct aed_buf *out)
{
	struct aed_array a = { 0 };
	struct aed_buf pb = { 0 };
	float *pooled = NULL, proj[AED_PCA_DIM];
	uint8_t *q = NULL;
	int64_t labels[512];
	size_t nl = 0;
	int rc;

	if ((rc = aed_array_get(x->db, "embedding", g->id, &a)))
		return rc;
	size_t sec = n_seconds(g->n_samples, g->n_total);
	if (sec > AED_SEQEX_MAX_ROWS) {
		rc = aed_error(AED_EFORMAT, "export: %s: %zu s of audio; TFRecord examples hold at most "
			       "%d one-second rows", g->key, sec, AED_SEQEX_MAX_ROWS);
		goto out;
	}
	pooled = malloc(sec * EMBED_DIM * sizeof *pooled);
	q = malloc(sec * AED_PCA_DIM);
	if (!pooled || !q) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	if (a.dtype != AED_F32 || a.dims[1] != EMBED_DIM) {
		rc = aed_error(AED_EFORMAT, "export: embedding of %s is not f32 [n, %d]", g->key,
			       EMBED_DIM);
		goto out;
	}
	aed_pool_seconds(a.data, (size_t)a.dims[0], EMBED_DIM, sec, pooled);
	for (size_t s = 0; s < sec; s++) {
		aed_pca_apply(&x->pca, pooled + s * EMBED_DIM, proj);
		for (int k = 0; k < AED_PCA_DIM; k++)
			q[s * AED_PCA_DIM + k] = aed_quantize_byte(proj[k]);
	}
	for (int k = 0; k < g->n_cls && nl < 512; k++)
		if (x->cls[g->cls[k]].label_index >= 0)
			labels[nl++] = x->cls[g->cls[k]].label_index;
	qsort(labels, nl, sizeof *labels, ex_cmp_i64);
	double start = (double)g->start_ms / 1000.0;
	double end = (double)ex_seg_end_ms(g) / 1000.0;
	if ((rc = aed_seqex_encode(g->ytid, start, end, labels, nl, q, sec, &pb)) ||
	    (rc = aed_tfrecord_append(out, pb.data, pb.len)))
		goto out;
out:
	aed_buf_release(&pb);
	aed_array_release(&a);
	free(pooled);
	free(q);
	return rc;
}
