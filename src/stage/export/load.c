/* load.c - the first step of an export: the clips that segments ingest,
 * fetch and decode (and embed, for TFRecord) left in the database with a
 * label review did not reject, their classes ranked rarest first, and the
 * seeded hashes every later choice is made by. What goes in the working set;
 * nothing is chosen here. */
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/util.h"
#include "stage/export/internal.h"

/* --- deterministic randomness -------------------------------------------------- */

uint64_t ex_hash_str(uint64_t seed, const char *salt, const char *s)
{
	uint64_t h = aed_fnv1a64(AED_FNV1A64_BASIS, salt, strlen(salt));
	h = aed_fnv1a64(h, "\xff", 1);
	h = aed_fnv1a64(h, s, strlen(s));
	return aed_splitmix64(h ^ aed_splitmix64(seed));
}

/* The state advances one step and is then mixed as a new value (not
 * aed_splitmix64_next, which mixes the old one): the draws every export
 * has made. */
double ex_rng_uniform(uint64_t *state)
{
	*state += AED_SPLITMIX64_STEP;
	return (double)(aed_splitmix64(*state) >> 11) * (1.0 / 9007199254740992.0);
}

/* --- the working set --------------------------------------------------------- */

static int col_text(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	*out = strdup(t ? (const char *)t : "");
	return *out ? AED_OK : aed_error(AED_ENOMEM, "export: out of memory");
}

/* The shard key: WebDataset cuts member names at the first dot. */
static void sanitize_key(char *k)
{
	for (char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-'))
			*p = '_';
}

int ex_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int ex_find_class(const struct ex *x, int64_t id)
{
	size_t lo = 0, hi = x->n_cls;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (x->cls[m].id < id)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < x->n_cls && x->cls[lo].id == id ? (int)lo : -1;
}

static int find_seg(const struct ex *x, int64_t id)
{
	size_t lo = 0, hi = x->n_seg;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (x->seg[m].id < id)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < x->n_seg && x->seg[lo].id == id ? (int)lo : -1;
}

const struct ex *ex_sort_ctx; /* qsort has no context argument in C11 */

static int cmp_rank(const void *a, const void *b)
{
	const struct xclass *x = &ex_sort_ctx->cls[*(const int *)a], *y = &ex_sort_ctx->cls[*(const int *)b];
	if (x->avail != y->avail)
		return x->avail < y->avail ? -1 : 1;
	int64_t lx = x->label_index < 0 ? INT64_MAX : x->label_index;
	int64_t ly = y->label_index < 0 ? INT64_MAX : y->label_index;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->mid, y->mid);
}

int ex_cmp_cls_rank(const void *a, const void *b)
{
	int x = ex_sort_ctx->cls[*(const int *)a].rank, y = ex_sort_ctx->cls[*(const int *)b].rank;
	return (x > y) - (x < y);
}

/* The candidates: segments with a clip (and, for TFRecord or an embedding
 * payload, an embedding) and a label annotators did not reject. */
static int load_clips(struct ex *x, struct aed_export_result *r)
{
	sqlite3_stmt *st = NULL;
	int rc = AED_OK, s;

	if ((rc = aed_db_prepare(x->db,
				 "SELECT s.id, s.key, s.ytid, s.start_ms, s.end_ms, s.source_group, "
				 "c.n_samples, c.n_total, "
				 "EXISTS (SELECT 1 FROM array_ref a WHERE a.kind = 'embedding' AND a.item = s.id), "
				 "EXISTS (SELECT 1 FROM label l WHERE l.segment_id = s.id AND" NOT_REJECTED("l") "), "
				 "(SELECT group_concat(name, ',') FROM (SELECT p.name FROM segment_split ss "
				 "JOIN split p ON p.id = ss.split_id WHERE ss.segment_id = s.id ORDER BY p.name)) "
				 "FROM segment s JOIN clip c ON c.segment_id = s.id ORDER BY s.id", &st)))
		return rc;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int emb = sqlite3_column_int(st, 8), lab = sqlite3_column_int(st, 9);
		if (!lab) {
			r->n_unlabelled++;
			continue;
		}
		if (x->opt.format == AED_EXPORT_TFRECORD && !emb)
			continue;
		if (x->opt.payload & AED_PAYLOAD_EMBEDDING && !emb)
			continue;
		if (x->n_seg % 256 == 0) {
			struct xseg *n = realloc(x->seg, (x->n_seg + 256) * sizeof *n);
			if (!n) {
				rc = aed_error(AED_ENOMEM, "export: out of memory");
				goto out;
			}
			x->seg = n;
		}
		struct xseg *g = &x->seg[x->n_seg];
		memset(g, 0, sizeof *g);
		x->n_seg++;
		g->id = sqlite3_column_int64(st, 0);
		if ((rc = col_text(st, 1, &g->key)) || (rc = col_text(st, 2, &g->ytid)) ||
		    (rc = col_text(st, 5, &g->group)) || (rc = col_text(st, 10, &g->ingest)))
			goto out;
		sanitize_key(g->key);
		g->keep = -1;
		g->start_ms = sqlite3_column_int64(st, 3);
		g->end_ms = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
		g->n_samples = sqlite3_column_int64(st, 6);
		g->n_total = sqlite3_column_int64(st, 7);
		g->has_emb = emb;
		g->h = ex_hash_str(x->opt.seed, "select", g->key);
		g->split = -1;
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: reading clips");
		goto out;
	}
	r->n_candidates = (int64_t)x->n_seg;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Each candidate's labels, as class ids for now (rank_classes() turns them
 * into indexes), and the distinct class ids, ascending, in *cids_out: the
 * caller frees it, also after a failure. */
static int load_labels(struct ex *x, int64_t **cids_out, size_t *n_out)
{
	sqlite3_stmt *st = NULL;
	int64_t *cids = NULL;
	size_t n_cids = 0, cap_cids = 0;
	int rc = AED_OK, s;

	if ((rc = aed_db_prepare(x->db,
				 "SELECT DISTINCT l.segment_id, l.class_id FROM label l "
				 "JOIN clip c ON c.segment_id = l.segment_id WHERE" NOT_REJECTED("l")
				 "ORDER BY 1, 2", &st)))
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int si = find_seg(x, sqlite3_column_int64(st, 0));
		if (si < 0)
			continue;
		struct xseg *g = &x->seg[si];
		int *n = realloc(g->cls, (size_t)(g->n_cls + 1) * sizeof *n);
		if (!n) {
			rc = aed_error(AED_ENOMEM, "export: out of memory");
			goto out;
		}
		g->cls = n;
		/* class id for now; rank_classes() makes it an index */
		int64_t cid = sqlite3_column_int64(st, 1);
		g->cls[g->n_cls++] = (int)cid;
		if (n_cids == cap_cids) {
			cap_cids = cap_cids ? 2 * cap_cids : 256;
			int64_t *c = realloc(cids, cap_cids * sizeof *c);
			if (!c) {
				rc = aed_error(AED_ENOMEM, "export: out of memory");
				goto out;
			}
			cids = c;
		}
		cids[n_cids++] = cid;
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: reading labels");
		goto out;
	}
	qsort(cids, n_cids, sizeof *cids, ex_cmp_i64);
	size_t u = 0;
	for (size_t i = 0; i < n_cids; i++)
		if (!u || cids[u - 1] != cids[i])
			cids[u++] = cids[i];
	n_cids = u;
out:
	sqlite3_finalize(st);
	*cids_out = cids;
	*n_out = n_cids;
	return rc;
}

/* The classes the labels name (cids: distinct, ascending): mid, name and
 * class_labels_indices index. */
static int load_classes(struct ex *x, const int64_t *cids, size_t u)
{
	sqlite3_stmt *st = NULL;
	int rc;

	x->cls = calloc(u ? u : 1, sizeof *x->cls);
	if (!x->cls)
		return aed_error(AED_ENOMEM, "export: out of memory");
	x->n_cls = u;
	if ((rc = aed_db_prepare(x->db, "SELECT mid, name, label_index FROM class WHERE id = ?1", &st)))
		return rc;
	for (size_t i = 0; i < u; i++) {
		struct xclass *c = &x->cls[i];
		c->id = cids[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, c->id);
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = aed_error(AED_EINTERNAL, "export: label names class %lld, not in the ontology",
				       (long long)c->id);
			goto out;
		}
		if ((rc = col_text(st, 0, &c->mid)) || (rc = col_text(st, 1, &c->name)))
			goto out;
		c->label_index = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 2);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* class ids -> indexes; availability; rarest-first ranks */
static int rank_classes(struct ex *x)
{
	for (size_t i = 0; i < x->n_seg; i++)
		for (int k = 0; k < x->seg[i].n_cls; k++) {
			int ci = ex_find_class(x, x->seg[i].cls[k]);
			x->seg[i].cls[k] = ci;
			x->cls[ci].avail++;
		}
	int *order = malloc((x->n_cls + 1) * sizeof *order);
	if (!order)
		return aed_error(AED_ENOMEM, "export: out of memory");
	for (size_t i = 0; i < x->n_cls; i++)
		order[i] = (int)i;
	ex_sort_ctx = x;
	qsort(order, x->n_cls, sizeof *order, cmp_rank);
	for (size_t i = 0; i < x->n_cls; i++)
		x->cls[order[i]].rank = (int)i;
	free(order);
	for (size_t i = 0; i < x->n_seg; i++)
		qsort(x->seg[i].cls, (size_t)x->seg[i].n_cls, sizeof(int), ex_cmp_cls_rank);
	return AED_OK;
}

/* Candidates: segments with a clip (and, for TFRecord, an embedding), their
 * labels and the classes those name. */
int ex_load(struct ex *x, struct aed_export_result *r)
{
	int64_t *cids = NULL;
	size_t n_cids = 0;
	int rc;

	if ((rc = load_clips(x, r)) || (rc = load_labels(x, &cids, &n_cids)) ||
	    (rc = load_classes(x, cids, n_cids)) || (rc = rank_classes(x)))
		goto out;
	r->n_classes = (int64_t)x->n_cls;
out:
	free(cids);
	return rc;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ex_check_keys(const struct ex *x)
{
	char **keys = malloc((x->n_seg + 1) * sizeof *keys);
	int rc = AED_OK;
	if (!keys)
		return aed_error(AED_ENOMEM, "export: out of memory");
	for (size_t i = 0; i < x->n_seg; i++)
		keys[i] = x->seg[i].key;
	qsort(keys, x->n_seg, sizeof *keys, cmp_str_ptr);
	for (size_t i = 1; i < x->n_seg; i++)
		if (!strcmp(keys[i - 1], keys[i])) {
			rc = aed_error(AED_ESTATE, "export: two segments share the sample key '%s' once "
				       "characters other than letters, digits, '_' and '-' are replaced",
				       keys[i]);
			break;
		}
	free(keys);
	return rc;
}
