/* samples.c - the export's samples (the selected clips and the mixes): their
 * seeded order in each split and their shard and position; the columns of
 * the targets (classes.json), each sample's multi-hot target with its
 * ontology ancestors, positives per split and pos_weight. After mix.c; what
 * is written per sample follows in sample_json.c and webdataset.c. */
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/refine.h"
#include "stage/export/internal.h"

static int cmp_col(const void *a, const void *b)
{
	const struct xclass *x = &ex_sort_ctx->cls[*(const int *)a], *y = &ex_sort_ctx->cls[*(const int *)b];
	int64_t lx = x->label_index < 0 ? INT64_MAX : x->label_index;
	int64_t ly = y->label_index < 0 ? INT64_MAX : y->label_index;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->mid, y->mid);
}

/* Each class's ancestors among the export's classes (ontology closure). */
int ex_load_ancestors(struct ex *x)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if ((rc = aed_db_prepare(x->db, "SELECT descendant_id, ancestor_id FROM class_closure "
				 "WHERE depth > 0 ORDER BY descendant_id, ancestor_id", &st)))
		return rc;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int d = ex_find_class(x, sqlite3_column_int64(st, 0));
		int a = ex_find_class(x, sqlite3_column_int64(st, 1));
		if (d < 0 || a < 0)
			continue;
		struct xclass *c = &x->cls[d];
		int *n = realloc(c->anc, (size_t)(c->n_anc + 1) * sizeof *n);
		if (!n) {
			rc = aed_error(AED_ENOMEM, "export: out of memory");
			goto out;
		}
		c->anc = n;
		c->anc[c->n_anc++] = a;
	}
	if (s != SQLITE_DONE)
		rc = aed_db_error(x->db, "export: reading the ontology closure");
out:
	sqlite3_finalize(st);
	return rc;
}

/* A sample's target as a multi-hot vector over the columns: its labels and,
 * unless no_ancestors, every ancestor of them that is a column (a Bark clip is
 * a positive for Dog and Animal, as the priors stage counts it). */
void ex_target_row(const struct ex *x, const int *cls, int n, float *row)
{
	memset(row, 0, (size_t)x->n_cols * sizeof *row);
	for (int k = 0; k < n; k++) {
		const struct xclass *c = &x->cls[cls[k]];
		if (c->col >= 0)
			row[c->col] = 1;
		for (int j = 0; !x->opt.no_ancestors && j < c->n_anc; j++)
			if (x->cls[c->anc[j]].col >= 0)
				row[x->cls[c->anc[j]].col] = 1;
	}
}

/* Columns (the classes of the exported samples, in class_labels_indices
 * order), positives per split over the targets, and pos_weight from the
 * first (training) split: (mean prior / prior_c)^beta, the mean over the
 * columns with a train positive; 1 for a column train has no positive of. */
int ex_build_targets(struct ex *x, struct aed_export_result *r)
{
	float *row = NULL;
	double *prior = NULL, *w = NULL;
	int rc = AED_OK;

	x->col_cls = malloc((x->n_cls + 1) * sizeof *x->col_cls);
	if (!x->col_cls)
		return aed_error(AED_ENOMEM, "export: out of memory");
	for (size_t i = 0; i < x->n_cls; i++) {
		x->cls[i].col = -1;
		if (x->cls[i].sel + x->cls[i].aug > 0)
			x->col_cls[x->n_cols++] = (int)i;
	}
	ex_sort_ctx = x;
	qsort(x->col_cls, (size_t)x->n_cols, sizeof *x->col_cls, cmp_col);
	for (int c = 0; c < x->n_cols; c++)
		x->cls[x->col_cls[c]].col = c;
	r->n_columns = x->n_cols;
	row = malloc(((size_t)x->n_cols + 1) * sizeof *row);
	prior = calloc((size_t)x->n_cols + 1, sizeof *prior);
	w = calloc((size_t)x->n_cols + 1, sizeof *w);
	if (!row || !prior || !w) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	for (size_t i = 0; i < x->n_smp; i++) {
		const struct xsample *sm = &x->smp[i];
		if (sm->seg >= 0)
			ex_target_row(x, x->seg[sm->seg].cls, x->seg[sm->seg].n_cls, row);
		else
			ex_target_row(x, x->mix[sm->mix].cls_union, x->mix[sm->mix].n_cls, row);
		x->split_total[sm->split]++;
		for (int c = 0; c < x->n_cols; c++)
			x->cls[x->col_cls[c]].pos_n[sm->split] += row[c] > 0;
	}
	for (int c = 0; c < x->n_cols; c++) {
		struct xclass *k = &x->cls[x->col_cls[c]];
		prior[c] = x->split_total[0] ? (double)k->pos_n[0] / (double)x->split_total[0] : 0;
		k->prior = prior[c];
	}
	aed_prior_weights(prior, (size_t)x->n_cols, x->opt.beta, w, NULL);
	for (int c = 0; c < x->n_cols; c++)
		x->cls[x->col_cls[c]].weight = prior[c] > 0 ? w[c] : 1.0;
	/* the columns a split cannot evaluate: no positive there */
	for (int s = 0; s < x->opt.n_splits; s++) {
		char *names = r->no_positive_names[s];
		size_t cap = sizeof r->no_positive_names[s], len = 0;
		for (int c = 0; c < x->n_cols; c++) {
			const struct xclass *k = &x->cls[x->col_cls[c]];
			if (k->pos_n[s])
				continue;
			if (r->no_positive[s]++ < 6 && len + strlen(k->name) + 3 < cap)
				len += (size_t)snprintf(names + len, cap - len, "%s%s", len ? "; " : "", k->name);
		}
	}
out:
	free(row);
	free(prior);
	free(w);
	return rc;
}

/* --- samples and shards ------------------------------------------------------------ */

static int cmp_sample(const void *a, const void *b)
{
	const struct xsample *x = a, *y = b;
	if (x->split != y->split)
		return x->split < y->split ? -1 : 1;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int64_t shard_size(const struct ex *x) { return x->opt.shard_size; }

/* Samples of each split in seeded order; n shards of equal size (+-1). */
int ex_plan_samples(struct ex *x, struct aed_export_result *r)
{
	size_t n = 0;
	for (size_t i = 0; i < x->n_seg; i++)
		n += x->seg[i].sel;
	n += x->n_mix;
	x->smp = calloc(n + 1, sizeof *x->smp);
	if (!x->smp)
		return aed_error(AED_ENOMEM, "export: out of memory");
	for (size_t i = 0; i < x->n_seg; i++)
		if (x->seg[i].sel)
			x->smp[x->n_smp++] = (struct xsample){ .seg = (int)i, .mix = -1,
							       .split = x->seg[i].split,
							       .key = x->seg[i].key };
	for (size_t i = 0; i < x->n_mix; i++)
		x->smp[x->n_smp++] = (struct xsample){ .seg = -1, .mix = (int)i,
						       .split = x->mix[i].split, .key = x->mix[i].key };
	for (size_t i = 0; i < x->n_smp; i++)
		x->smp[i].h = ex_hash_str(x->opt.seed, "order", x->smp[i].key);
	qsort(x->smp, x->n_smp, sizeof *x->smp, cmp_sample);
	for (size_t i = 0; i < x->n_smp;) {
		size_t j = i;
		while (j < x->n_smp && x->smp[j].split == x->smp[i].split)
			j++;
		int64_t cnt = (int64_t)(j - i), ns = (cnt + shard_size(x) - 1) / shard_size(x);
		/* enough shards for that many DataLoader workers, where there are
		 * as many samples */
		if (ns < x->opt.shards_per_split)
			ns = cnt < x->opt.shards_per_split ? cnt : x->opt.shards_per_split;
		for (size_t k = i; k < j; k++) {
			int64_t pos = (int64_t)(k - i);
			x->smp[k].shard = (int)(pos * ns / cnt);
		}
		for (size_t k = i; k < j; k++)
			x->smp[k].position = k == i || x->smp[k].shard != x->smp[k - 1].shard
						     ? 0 : x->smp[k - 1].position + 1;
		r->per_split[x->smp[i].split] = cnt;
		r->n_shards += ns;
		i = j;
	}
	for (size_t i = 0; i < x->n_smp; i++) {
		const int *cls;
		int nc;
		if (x->smp[i].seg >= 0) {
			cls = x->seg[x->smp[i].seg].cls;
			nc = x->seg[x->smp[i].seg].n_cls;
		} else {
			cls = x->mix[x->smp[i].mix].cls_union;
			nc = x->mix[x->smp[i].mix].n_cls;
		}
		for (int k = 0; k < nc; k++)
			x->cls[cls[k]].split_n[x->smp[i].split]++;
	}
	return AED_OK;
}
