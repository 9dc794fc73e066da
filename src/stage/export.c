/* export.c - the export stage: choose a class-balanced set of the decoded,
 * labelled clips, split it by source group with label stratification, add
 * optional same-class mixes for rare classes, and write WebDataset tar or
 * AudioSet-layout TFRecord shards with their index, manifest, priors and
 * README (layouts in include/aedcurate/export.h). Every choice is a function
 * of the database and the seed, so two runs write identical shards. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/export.h"
#include "aedcurate/npy.h"
#include "aedcurate/outdir.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "aedcurate/tar.h"
#include "aedcurate/tfrecord.h"
#include "aedcurate/util.h"

#define STAGE "export"
/* A label annotators decided is not there (review_decision 'not_present') is
 * left out of the export; the segment's JSON lists it under "negatives". */
#define NOT_REJECTED(l) " NOT EXISTS (SELECT 1 FROM review_decision r WHERE r.segment_id = " l \
	".segment_id AND r.class_id = " l ".class_id AND r.decision = 'not_present') "
#define PCA_MAX_ROWS 60000   /* rows the PCA fit reads at most */
#define EMBED_DIM 1024

/* --- option parsing ------------------------------------------------------------ */

static int valid_split_name(const char *s, size_t n)
{
	if (!n || n >= 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

int aed_export_parse_splits(const char *s, struct aed_export_opts *o)
{
	const char *p = s;
	double sum = 0;

	o->n_splits = 0;
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end || !valid_split_name(p, (size_t)(eq - p)))
			return aed_error(AED_EUSAGE, "--split '%s': expected NAME=FRACTION,... with names "
					 "of letters, digits, '_' or '-'", s);
		if (o->n_splits == AED_EXPORT_MAX_SPLITS)
			return aed_error(AED_EUSAGE, "--split '%s': at most %d splits", s,
					 AED_EXPORT_MAX_SPLITS);
		struct aed_export_split *sp = &o->splits[o->n_splits];
		memcpy(sp->name, p, (size_t)(eq - p));
		sp->name[eq - p] = '\0';
		char num[64], *e;
		size_t nl = (size_t)(end - eq - 1);
		if (nl == 0 || nl >= sizeof num)
			return aed_error(AED_EUSAGE, "--split '%s': no fraction for %s", s, sp->name);
		memcpy(num, eq + 1, nl);
		num[nl] = '\0';
		sp->fraction = strtod(num, &e);
		if (*e || !(sp->fraction > 0) || !isfinite(sp->fraction))
			return aed_error(AED_EUSAGE, "--split '%s': fraction '%s' of %s must be > 0", s, num,
					 sp->name);
		for (int i = 0; i < o->n_splits; i++)
			if (!strcmp(o->splits[i].name, sp->name))
				return aed_error(AED_EUSAGE, "--split '%s': %s given twice", s, sp->name);
		sum += sp->fraction;
		o->n_splits++;
		p = *end ? end + 1 : end;
	}
	if (!o->n_splits)
		return aed_error(AED_EUSAGE, "--split: empty");
	for (int i = 0; i < o->n_splits; i++)
		o->splits[i].fraction /= sum;
	return AED_OK;
}

int aed_export_parse_balance(const char *s, int64_t *min, int64_t *max)
{
	const char *p = s;

	*min = 0;
	*max = 0;
	while (*p) {
		char *e;
		int is_min = !strncmp(p, "min=", 4), is_max = !strncmp(p, "max=", 4);
		if (!is_min && !is_max)
			return aed_error(AED_EUSAGE, "--balance '%s': expected min=N,max=M", s);
		long long v = strtoll(p + 4, &e, 10);
		if (e == p + 4 || (*e && *e != ',') || v < 0)
			return aed_error(AED_EUSAGE, "--balance '%s': %s needs a count >= 0", s,
					 is_min ? "min" : "max");
		*(is_min ? min : max) = v;
		p = *e ? e + 1 : e;
	}
	if (*max && *min > *max)
		return aed_error(AED_EUSAGE, "--balance '%s': min %lld is above max %lld", s,
				 (long long)*min, (long long)*max);
	return AED_OK;
}

int aed_export_parse_payload(const char *s, unsigned *payload)
{
	const char *p = s;

	*payload = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 5 && !strncmp(p, "audio", 5))
			*payload |= AED_PAYLOAD_AUDIO;
		else if (n == 6 && !strncmp(p, "logmel", 6))
			*payload |= AED_PAYLOAD_LOGMEL;
		else if (n == 9 && !strncmp(p, "embedding", 9))
			*payload |= AED_PAYLOAD_EMBEDDING;
		else
			return aed_error(AED_EUSAGE, "--payload '%s': '%.*s' is not audio, logmel or "
					 "embedding", s, (int)n, p);
		p += n;
		if (*p)
			p++;
	}
	if (!*payload)
		return aed_error(AED_EUSAGE, "--payload: empty");
	return AED_OK;
}

int aed_export_parse_keep(const char *s, struct aed_export_opts *o)
{
	const char *p = s;

	o->n_keep = 0;
	o->keep_set = 1;
	if (!strcmp(s, "none"))
		return AED_OK;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *eq = memchr(p, '=', n);
		if (!eq || !valid_split_name(p, (size_t)(eq - p)) ||
		    !valid_split_name(eq + 1, (size_t)(p + n - eq - 1)))
			return aed_error(AED_EUSAGE, "--keep-split '%s': expected INGEST=EXPORT,... (split "
					 "names) or none", s);
		if (o->n_keep == AED_EXPORT_MAX_KEEP)
			return aed_error(AED_EUSAGE, "--keep-split '%s': at most %d rules", s,
					 AED_EXPORT_MAX_KEEP);
		struct aed_export_keep *k = &o->keep[o->n_keep++];
		snprintf(k->from, sizeof k->from, "%.*s", (int)(eq - p), p);
		snprintf(k->to, sizeof k->to, "%.*s", (int)(p + n - eq - 1), eq + 1);
		p += n;
		if (*p)
			p++;
	}
	if (!o->n_keep)
		return aed_error(AED_EUSAGE, "--keep-split: empty (say none to keep no split)");
	return AED_OK;
}

/* --- deterministic randomness -------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t hash_str(uint64_t seed, const char *salt, const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = salt; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = s; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return mix64(h ^ mix64(seed));
}

static double rng_uniform(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return (double)(mix64(*state) >> 11) * (1.0 / 9007199254740992.0);
}

/* --- the working set --------------------------------------------------------- */

struct xclass {
	int64_t id;
	char *mid, *name;
	int64_t label_index;          /* -1: none */
	int64_t avail, sel, aug;      /* candidates, selected real clips, mixes carrying it */
	int64_t split_n[AED_EXPORT_MAX_SPLITS]; /* samples (real + mixes) per split */
	double weight;                /* pos_weight of its column (1 without a train positive) */
	double prior;                 /* train positives / train samples (targets) */
	int rank;                     /* position in rarest-first order */
	int col;                      /* column in classes.json, -1: no exported sample has it */
	int *anc;                     /* ancestor class indexes (ontology closure, depth > 0) */
	int n_anc;
	int64_t pos_n[AED_EXPORT_MAX_SPLITS]; /* samples whose target has it, per split */
};

struct xseg {
	int64_t id;
	char *key, *ytid, *group;
	char *ingest;                 /* the splits it was ingested into, ","-joined, sorted */
	int keep;                     /* export split its ingest split sends it to, -1: free */
	int64_t start_ms, end_ms;     /* end -1: open */
	int64_t n_samples, n_total;   /* clip table: real, stored (16 kHz) */
	int has_emb;
	int *cls;                     /* class indexes, ascending rank */
	int n_cls;
	uint64_t h;                   /* seeded selection order */
	int sel, split;
};

struct xmix {
	int a, b;                     /* segment indexes */
	int cls;                      /* class it was made for */
	int split;
	int *cls_union;
	int n_cls;
	char *key;
	double delay_s, gain_db, eq_hz, eq_db;
};

struct xsample {
	int seg;                      /* >= 0 real clip */
	int mix;                      /* >= 0 mix */
	int split;
	const char *key;
	uint64_t h;
	int shard, position;
};

struct ex {
	struct aed_db *db;
	const struct aed_export_opts *o;
	struct aed_export_opts opt;   /* with defaults */
	struct xclass *cls;
	size_t n_cls;
	struct xseg *seg;
	size_t n_seg;
	struct xmix *mix;
	size_t n_mix, cap_mix;
	struct xsample *smp;
	size_t n_smp;
	int *col_cls;                 /* column -> class index */
	int n_cols;
	int64_t split_total[AED_EXPORT_MAX_SPLITS]; /* samples per split */
	int64_t beta_run;             /* priors run the beta came from, 0: none */
	struct aed_pca pca;
	int have_pca;
	sqlite3_stmt *st_info, *st_src, *st_soft, *st_mask, *st_neg;
};

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

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int find_class(const struct ex *x, int64_t id)
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

static const struct ex *sort_ctx; /* qsort has no context argument in C11 */

static int cmp_rank(const void *a, const void *b)
{
	const struct xclass *x = &sort_ctx->cls[*(const int *)a], *y = &sort_ctx->cls[*(const int *)b];
	if (x->avail != y->avail)
		return x->avail < y->avail ? -1 : 1;
	int64_t lx = x->label_index < 0 ? INT64_MAX : x->label_index;
	int64_t ly = y->label_index < 0 ? INT64_MAX : y->label_index;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->mid, y->mid);
}

static int cmp_cls_rank(const void *a, const void *b)
{
	int x = sort_ctx->cls[*(const int *)a].rank, y = sort_ctx->cls[*(const int *)b].rank;
	return (x > y) - (x < y);
}

/* Candidates: segments with a clip (and, for TFRecord, an embedding), their
 * labels and the classes those name. */
static int load(struct ex *x, struct aed_export_result *r)
{
	sqlite3_stmt *st = NULL;
	int64_t *cids = NULL;
	size_t n_cids = 0, cap_cids = 0;
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
		g->h = hash_str(x->opt.seed, "select", g->key);
		g->split = -1;
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: reading clips");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	r->n_candidates = (int64_t)x->n_seg;
	/* labels */
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
		/* class id for now; turned into an index below */
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
	sqlite3_finalize(st);
	st = NULL;
	qsort(cids, n_cids, sizeof *cids, cmp_i64);
	size_t u = 0;
	for (size_t i = 0; i < n_cids; i++)
		if (!u || cids[u - 1] != cids[i])
			cids[u++] = cids[i];
	x->cls = calloc(u ? u : 1, sizeof *x->cls);
	if (!x->cls) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	x->n_cls = u;
	if ((rc = aed_db_prepare(x->db, "SELECT mid, name, label_index FROM class WHERE id = ?1", &st)))
		goto out;
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
	sqlite3_finalize(st);
	st = NULL;
	/* class ids -> indexes; availability; rarest-first ranks */
	for (size_t i = 0; i < x->n_seg; i++)
		for (int k = 0; k < x->seg[i].n_cls; k++) {
			int ci = find_class(x, x->seg[i].cls[k]);
			x->seg[i].cls[k] = ci;
			x->cls[ci].avail++;
		}
	{
		int *order = malloc((x->n_cls + 1) * sizeof *order);
		if (!order) {
			rc = aed_error(AED_ENOMEM, "export: out of memory");
			goto out;
		}
		for (size_t i = 0; i < x->n_cls; i++)
			order[i] = (int)i;
		sort_ctx = x;
		qsort(order, x->n_cls, sizeof *order, cmp_rank);
		for (size_t i = 0; i < x->n_cls; i++)
			x->cls[order[i]].rank = (int)i;
		free(order);
		for (size_t i = 0; i < x->n_seg; i++)
			qsort(x->seg[i].cls, (size_t)x->seg[i].n_cls, sizeof(int), cmp_cls_rank);
	}
	r->n_classes = (int64_t)x->n_cls;
out:
	sqlite3_finalize(st);
	free(cids);
	return rc;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_keys(const struct ex *x)
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

/* --- selection ----------------------------------------------------------------- */

struct cand {
	uint64_t h;
	int seg;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return (x->seg > y->seg) - (x->seg < y->seg);
}

/* One pass over the classes, rarest first: add candidates (in seeded order)
 * until the class has `target`, never adding a clip one of whose classes
 * already has max. Counts only grow, so after the pass every candidate left
 * out either has a class at max or belongs only to classes at target. */
static void select_pass(struct ex *x, struct cand *lists, const size_t *start, const int *by_rank,
			int64_t target)
{
	for (size_t ri = 0; ri < x->n_cls; ri++) {
		int c = by_rank[ri];
		for (size_t j = start[c]; j < start[c + 1] && x->cls[c].sel < target; j++) {
			struct xseg *g = &x->seg[lists[j].seg];
			if (g->sel)
				continue;
			int blocked = 0;
			for (int k = 0; k < g->n_cls && x->opt.max; k++)
				if (x->cls[g->cls[k]].sel >= x->opt.max)
					blocked = 1;
			if (blocked)
				continue;
			g->sel = 1;
			for (int k = 0; k < g->n_cls; k++)
				x->cls[g->cls[k]].sel++;
		}
	}
}

static int select_clips(struct ex *x, struct aed_export_result *r)
{
	size_t *start = calloc(x->n_cls + 1, sizeof *start), *fill = NULL;
	struct cand *lists = NULL;
	int *by_rank = malloc((x->n_cls + 1) * sizeof *by_rank);
	size_t total = 0;
	int rc = AED_OK;

	if (!start || !by_rank) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	if (!x->opt.max) {
		/* no cap: every candidate */
		for (size_t i = 0; i < x->n_seg; i++) {
			x->seg[i].sel = 1;
			for (int k = 0; k < x->seg[i].n_cls; k++)
				x->cls[x->seg[i].cls[k]].sel++;
		}
		goto count;
	}
	for (size_t i = 0; i < x->n_cls; i++) {
		start[i + 1] = start[i] + (size_t)x->cls[i].avail;
		by_rank[x->cls[i].rank] = (int)i;
	}
	total = start[x->n_cls];
	lists = malloc((total + 1) * sizeof *lists);
	fill = calloc(x->n_cls + 1, sizeof *fill);
	if (!lists || !fill) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	for (size_t i = 0; i < x->n_seg; i++)
		for (int k = 0; k < x->seg[i].n_cls; k++) {
			int c = x->seg[i].cls[k];
			lists[start[c] + fill[c]++] = (struct cand){ x->seg[i].h, (int)i };
		}
	for (size_t c = 0; c < x->n_cls; c++)
		qsort(lists + start[c], start[c + 1] - start[c], sizeof *lists, cmp_cand);
	select_pass(x, lists, start, by_rank, x->opt.min); /* rare classes first reach min */
	select_pass(x, lists, start, by_rank, x->opt.max); /* then every class fills to max */
count:
	for (size_t i = 0; i < x->n_seg; i++)
		r->n_selected += x->seg[i].sel;
	for (size_t c = 0; c < x->n_cls; c++)
		if (x->cls[c].sel < x->opt.min) {
			r->n_below_min++;
			r->n_short += x->cls[c].avail < x->opt.min;
		}
out:
	free(start);
	free(fill);
	free(lists);
	free(by_rank);
	return rc;
}

/* --- split ----------------------------------------------------------------------- */

struct grp {
	int first, n;      /* into the group-sorted index array */
	int keep;          /* split a member's ingest split sends the group to, -1: free */
	int rarest;        /* class index with the fewest selected clips */
	uint64_t h;
};

static int cmp_seg_group(const void *a, const void *b)
{
	const struct xseg *x = &sort_ctx->seg[*(const int *)a], *y = &sort_ctx->seg[*(const int *)b];
	int c = strcmp(x->group, y->group);
	return c ? c : strcmp(x->key, y->key);
}

static int cmp_grp(const void *a, const void *b)
{
	const struct grp *x = a, *y = b;
	const struct xclass *cx = &sort_ctx->cls[x->rarest], *cy = &sort_ctx->cls[y->rarest];
	if (cx->sel != cy->sel)
		return cx->sel < cy->sel ? -1 : 1;
	if (cx->rank != cy->rank)
		return cx->rank < cy->rank ? -1 : 1;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return (x->first > y->first) - (x->first < y->first);
}

/* Whole source groups go to one split each. Groups are placed rarest class
 * first; each goes to the split furthest below its share of that class among
 * the splits still below their share of all clips, ties broken by the split
 * furthest below its share of all clips, then by order. */
static int assign_splits(struct ex *x)
{
	int ns = x->opt.n_splits;
	int *idx = malloc((x->n_seg + 1) * sizeof *idx);
	struct grp *g = malloc((x->n_seg + 1) * sizeof *g);
	double *have = calloc((size_t)ns * (x->n_cls + 1), sizeof *have);
	double have_n[AED_EXPORT_MAX_SPLITS] = { 0 };
	size_t n = 0, ng = 0;
	int rc = AED_OK;

	if (!idx || !g || !have) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	for (size_t i = 0; i < x->n_seg; i++)
		if (x->seg[i].sel)
			idx[n++] = (int)i;
	sort_ctx = x;
	qsort(idx, n, sizeof *idx, cmp_seg_group);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		struct grp *gr = &g[ng++];
		gr->first = (int)i;
		gr->rarest = -1;
		gr->keep = -1;
		while (j < n && !strcmp(x->seg[idx[j]].group, x->seg[idx[i]].group)) {
			const struct xseg *s = &x->seg[idx[j]];
			if (gr->keep < 0)
				gr->keep = s->keep;
			for (int k = 0; k < s->n_cls; k++) {
				int c = s->cls[k];
				if (gr->rarest < 0 || x->cls[c].sel < x->cls[gr->rarest].sel ||
				    (x->cls[c].sel == x->cls[gr->rarest].sel &&
				     x->cls[c].rank < x->cls[gr->rarest].rank))
					gr->rarest = c;
			}
			j++;
		}
		gr->n = (int)(j - i);
		gr->h = hash_str(x->opt.seed, "split", x->seg[idx[i]].group);
		i = j;
	}
	qsort(g, ng, sizeof *g, cmp_grp);
	/* groups an ingest split sends somewhere go there first, so the others
	 * fill the splits around them */
	for (size_t gi = 0; gi < ng; gi++)
		for (int k = 0; g[gi].keep >= 0 && k < g[gi].n; k++) {
			struct xseg *s = &x->seg[idx[g[gi].first + k]];
			s->split = g[gi].keep;
			have_n[s->split]++;
			for (int c = 0; c < s->n_cls; c++)
				have[(size_t)s->split * x->n_cls + (size_t)s->cls[c]]++;
		}
	for (size_t gi = 0; gi < ng; gi++) {
		int r = g[gi].rarest, best = 0;
		if (g[gi].keep >= 0)
			continue;
		double best_d = -INFINITY, best_dn = -INFINITY;
		/* splits already at their share of all clips are used only when all are */
		int open_any = 0;
		for (int j = 0; j < ns; j++)
			open_any |= have_n[j] < x->opt.splits[j].fraction * (double)n;
		for (int j = 0; j < ns; j++) {
			double f = x->opt.splits[j].fraction;
			if (open_any && !(have_n[j] < f * (double)n))
				continue;
			double d = f * (double)x->cls[r].sel - have[(size_t)j * x->n_cls + (size_t)r];
			double dn = f * (double)n - have_n[j];
			if (d > best_d + 1e-9 || (fabs(d - best_d) <= 1e-9 && dn > best_dn + 1e-9)) {
				best = j;
				best_d = d;
				best_dn = dn;
			}
		}
		for (int k = 0; k < g[gi].n; k++) {
			struct xseg *s = &x->seg[idx[g[gi].first + k]];
			s->split = best;
			have_n[best]++;
			for (int c = 0; c < s->n_cls; c++)
				have[(size_t)best * x->n_cls + (size_t)s->cls[c]]++;
		}
	}
out:
	free(idx);
	free(g);
	free(have);
	return rc;
}

/* Which clips their ingest split sends to one export split (opts.keep; by
 * default AudioSet's eval list to test): those stay out of train. */
static int apply_keep(struct ex *x, struct aed_export_result *r)
{
	for (int k = 0; k < x->opt.n_keep; k++) {
		int to = -1;
		for (int j = 0; j < x->opt.n_splits; j++)
			if (!strcmp(x->opt.splits[j].name, x->opt.keep[k].to))
				to = j;
		if (to < 0)
			return aed_error(AED_EUSAGE, "export: --keep-split %s=%s: the export has no split %s",
					 x->opt.keep[k].from, x->opt.keep[k].to, x->opt.keep[k].to);
		size_t fl = strlen(x->opt.keep[k].from);
		for (size_t i = 0; i < x->n_seg; i++) {
			struct xseg *g = &x->seg[i];
			for (const char *p = g->ingest; *p && g->keep < 0;) {
				size_t n = strcspn(p, ",");
				if (n == fl && !strncmp(p, x->opt.keep[k].from, n))
					g->keep = to;
				p += n;
				if (*p)
					p++;
			}
		}
	}
	for (size_t i = 0; i < x->n_seg; i++)
		r->n_kept += x->seg[i].sel && x->seg[i].keep >= 0;
	return AED_OK;
}

/* --- mixes ----------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int add_mix(struct ex *x, int a, int b, int c, int split, uint64_t *rng)
{
	if (x->n_mix == x->cap_mix) {
		size_t cap = x->cap_mix ? 2 * x->cap_mix : 64;
		struct xmix *m = realloc(x->mix, cap * sizeof *m);
		if (!m)
			return aed_error(AED_ENOMEM, "export: out of memory");
		x->mix = m;
		x->cap_mix = cap;
	}
	struct xmix *m = &x->mix[x->n_mix];
	memset(m, 0, sizeof *m);
	const struct xseg *A = &x->seg[a], *B = &x->seg[b];
	m->a = a;
	m->b = b;
	m->cls = c;
	m->split = split;
	double len_a = (double)A->n_samples / AED_SAMPLE_RATE;
	m->delay_s = floor(rng_uniform(rng) * 0.5 * len_a * 1000.0) / 1000.0;
	m->gain_db = round((-9.0 + 9.0 * rng_uniform(rng)) * 100.0) / 100.0;
	m->eq_hz = round(250.0 * pow(16.0, rng_uniform(rng)));
	m->eq_db = round((-9.0 + 18.0 * rng_uniform(rng)) * 100.0) / 100.0;
	m->cls_union = malloc((size_t)(A->n_cls + B->n_cls) * sizeof(int));
	size_t kl = strlen(A->key) + strlen(B->key) + 8;
	m->key = malloc(kl);
	if (!m->cls_union || !m->key) {
		free(m->cls_union);
		free(m->key);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	snprintf(m->key, kl, "%s_mix_%s", A->key, B->key);
	for (int k = 0; k < A->n_cls; k++)
		m->cls_union[m->n_cls++] = A->cls[k];
	for (int k = 0; k < B->n_cls; k++) {
		int dup = 0;
		for (int j = 0; j < A->n_cls; j++)
			dup |= A->cls[j] == B->cls[k];
		if (!dup)
			m->cls_union[m->n_cls++] = B->cls[k];
	}
	sort_ctx = x;
	qsort(m->cls_union, (size_t)m->n_cls, sizeof(int), cmp_cls_rank);
	for (int k = 0; k < m->n_cls; k++)
		x->cls[m->cls_union[k]].aug++;
	x->n_mix++;
	return AED_OK;
}

/* Classes below min get mixes of two of their clips of the same split (so no
 * source crosses splits), up to each split's share of min. Each ordered pair
 * of clips is used once. */
static int make_mixes(struct ex *x)
{
	int *members = malloc((x->n_seg + 1) * sizeof *members);
	int *pairs = NULL;
	int rc = AED_OK;

	if (!members)
		return aed_error(AED_ENOMEM, "export: out of memory");
	int *by_rank = malloc((x->n_cls + 1) * sizeof *by_rank);
	if (!by_rank) {
		free(members);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	for (size_t i = 0; i < x->n_cls; i++)
		by_rank[x->cls[i].rank] = (int)i;
	for (size_t ri = 0; ri < x->n_cls; ri++) {
		int c = by_rank[ri];
		if (x->cls[c].sel >= x->opt.min)
			continue;
		for (int sp = 0; sp < x->opt.n_splits; sp++) {
			size_t k = 0;
			for (size_t i = 0; i < x->n_seg; i++) {
				const struct xseg *s = &x->seg[i];
				if (!s->sel || s->split != sp)
					continue;
				for (int j = 0; j < s->n_cls; j++)
					if (s->cls[j] == c)
						members[k++] = (int)i;
			}
			int64_t want = (int64_t)ceil(x->opt.splits[sp].fraction * (double)x->opt.min - 1e-9);
			if (k < 2 || (int64_t)k >= want)
				continue;
			int64_t need = want - (int64_t)k;
			size_t np = k * (k - 1);
			free(pairs);
			pairs = malloc(np * 2 * sizeof *pairs);
			if (!pairs) {
				rc = aed_error(AED_ENOMEM, "export: out of memory");
				goto out;
			}
			size_t p = 0;
			for (size_t a = 0; a < k; a++)
				for (size_t b = 0; b < k; b++)
					if (a != b) {
						pairs[2 * p] = members[a];
						pairs[2 * p + 1] = members[b];
						p++;
					}
			char salt[96];
			snprintf(salt, sizeof salt, "%s/%s", x->cls[c].mid, x->opt.splits[sp].name);
			uint64_t rng = hash_str(x->opt.seed, "mix", salt);
			for (size_t i = np; i > 1; i--) { /* Fisher-Yates */
				size_t j = (size_t)(rng_uniform(&rng) * (double)i);
				int t0 = pairs[2 * (i - 1)], t1 = pairs[2 * (i - 1) + 1];
				pairs[2 * (i - 1)] = pairs[2 * j];
				pairs[2 * (i - 1) + 1] = pairs[2 * j + 1];
				pairs[2 * j] = t0;
				pairs[2 * j + 1] = t1;
			}
			for (size_t i = 0; i < np && need > 0; i++) {
				int a = pairs[2 * i], b = pairs[2 * i + 1], used = 0;
				for (size_t m = 0; m < x->n_mix && !used; m++)
					used = x->mix[m].a == a && x->mix[m].b == b;
				if (used)
					continue;
				if ((rc = add_mix(x, a, b, c, sp, &rng)))
					goto out;
				need--;
			}
		}
	}
out:
	free(members);
	free(pairs);
	free(by_rank);
	(void)cmp_int;
	return rc;
}

/* Mix = A + g * EQ(B delayed), g = 10^(gain_db/20), EQ a peaking biquad (RBJ
 * cookbook, Q 1) at eq_hz with eq_db; scaled down if the sum would clip.
 * Length: max(len A, delay + len B), at most A's stored clip length. */
static int render_mix(const struct ex *x, struct aed_db *db, const struct xmix *m, int16_t **pcm,
		      size_t *n)
{
	struct aed_array A = { 0 }, B = { 0 };
	const struct xseg *sa = &x->seg[m->a], *sb = &x->seg[m->b];
	float *acc = NULL;
	int rc;

	*pcm = NULL;
	if ((rc = aed_array_get(db, "clip", sa->id, &A)) ||
	    (rc = aed_array_get(db, "clip", sb->id, &B)))
		goto out;
	size_t la = (size_t)sa->n_samples, lb = (size_t)sb->n_samples;
	size_t cap = (size_t)(A.nbytes / sizeof(int16_t));
	if (la > cap)
		la = cap;
	if (lb > B.nbytes / sizeof(int16_t))
		lb = B.nbytes / sizeof(int16_t);
	size_t delay = (size_t)llround(m->delay_s * AED_SAMPLE_RATE);
	size_t len = delay + lb > la ? delay + lb : la;
	if (len > cap)
		len = cap;
	acc = calloc(len + 1, sizeof *acc);
	*pcm = malloc((len + 1) * sizeof **pcm);
	if (!acc || !*pcm) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	const int16_t *a = A.data, *b = B.data;
	for (size_t i = 0; i < la; i++)
		acc[i] = a[i] / AED_CLIP_SCALE;
	double w0 = 2 * M_PI * m->eq_hz / AED_SAMPLE_RATE, Ag = pow(10.0, m->eq_db / 40.0);
	double alpha = sin(w0) / 2.0; /* Q = 1 */
	double b0 = 1 + alpha * Ag, b1 = -2 * cos(w0), b2 = 1 - alpha * Ag;
	double a0 = 1 + alpha / Ag, a1 = -2 * cos(w0), a2 = 1 - alpha / Ag;
	double g = pow(10.0, m->gain_db / 20.0), x1 = 0, x2 = 0, y1 = 0, y2 = 0;
	for (size_t i = 0; i < lb && delay + i < len; i++) {
		double in = b[i] / AED_CLIP_SCALE;
		double y = (b0 * in + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
		x2 = x1;
		x1 = in;
		y2 = y1;
		y1 = y;
		acc[delay + i] += (float)(g * y);
	}
	float peak = 0;
	for (size_t i = 0; i < len; i++)
		peak = fabsf(acc[i]) > peak ? fabsf(acc[i]) : peak;
	if (peak > 0.999f)
		for (size_t i = 0; i < len; i++)
			acc[i] *= 0.999f / peak;
	aed_f32_to_s16(acc, len, *pcm);
	*n = len;
out:
	if (rc) {
		free(*pcm);
		*pcm = NULL;
	}
	free(acc);
	aed_array_release(&A);
	aed_array_release(&B);
	return rc;
}

/* --- targets, columns and loss weights ------------------------------------------------ */

static int cmp_col(const void *a, const void *b)
{
	const struct xclass *x = &sort_ctx->cls[*(const int *)a], *y = &sort_ctx->cls[*(const int *)b];
	int64_t lx = x->label_index < 0 ? INT64_MAX : x->label_index;
	int64_t ly = y->label_index < 0 ? INT64_MAX : y->label_index;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->mid, y->mid);
}

/* Each class's ancestors among the export's classes (ontology closure). */
static int load_ancestors(struct ex *x)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if ((rc = aed_db_prepare(x->db, "SELECT descendant_id, ancestor_id FROM class_closure "
				 "WHERE depth > 0 ORDER BY descendant_id, ancestor_id", &st)))
		return rc;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int d = find_class(x, sqlite3_column_int64(st, 0)), a = find_class(x, sqlite3_column_int64(st, 1));
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
static void target_row(const struct ex *x, const int *cls, int n, float *row)
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
static int build_targets(struct ex *x, struct aed_export_result *r)
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
	sort_ctx = x;
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
			target_row(x, x->seg[sm->seg].cls, x->seg[sm->seg].n_cls, row);
		else
			target_row(x, x->mix[sm->mix].cls_union, x->mix[sm->mix].n_cls, row);
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
static int plan_samples(struct ex *x, struct aed_export_result *r)
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
		x->smp[i].h = hash_str(x->opt.seed, "order", x->smp[i].key);
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

/* --- per-sample JSON ------------------------------------------------------------------ */

/* A clip's end: the segment's, or (open segments: manifest files) its start
 * plus the real samples, to the millisecond; the TFRecord's end_time_seconds
 * is this over 1000, so the two agree. */
static int64_t seg_end_ms(const struct xseg *g)
{
	return g->end_ms >= 0 ? g->end_ms : g->start_ms + (g->n_samples * 1000 + AED_SAMPLE_RATE / 2) /
								 AED_SAMPLE_RATE;
}

static json_t *ingest_json(const char *list)
{
	json_t *a = json_array();
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p)
			p++;
	}
	return a;
}

static json_t *columns_json(const struct ex *x, const int *cls, int n)
{
	float *row = malloc(((size_t)x->n_cols + 1) * sizeof *row);
	json_t *a = json_array();
	if (!row)
		return a;
	target_row(x, cls, n, row);
	for (int c = 0; c < x->n_cols; c++)
		if (row[c] > 0)
			json_array_append_new(a, json_integer(c));
	free(row);
	return a;
}

static json_t *jstr_or_null(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? json_string((const char *)t) : json_null();
}

static void put_labels(const struct ex *x, json_t *o, const int *cls, int n)
{
	json_t *mids = json_array(), *names = json_array(), *idx = json_array();
	int64_t li[512];
	int nl = 0;
	for (int k = 0; k < n; k++) {
		json_array_append_new(mids, json_string(x->cls[cls[k]].mid));
		json_array_append_new(names, json_string(x->cls[cls[k]].name));
		if (x->cls[cls[k]].label_index >= 0 && nl < 512)
			li[nl++] = x->cls[cls[k]].label_index;
	}
	qsort(li, (size_t)nl, sizeof *li, cmp_i64);
	for (int k = 0; k < nl; k++)
		json_array_append_new(idx, json_integer(li[k]));
	json_object_set_new(o, "mids", mids);
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "labels", idx);
}

static int prepare_queries(struct ex *x)
{
	int rc;
	if ((rc = aed_db_prepare(x->db,
				 "SELECT m.source, m.kind, m.sha256, m.run_id, c.run_id, "
				 "(SELECT run_id FROM array_ref WHERE kind = 'logmel_yamnet' AND item = s.id), "
				 "e.run_id, mo.name, mo.sha256, s.meta "
				 "FROM segment s LEFT JOIN media m ON m.segment_id = s.id "
				 "LEFT JOIN clip c ON c.segment_id = s.id "
				 "LEFT JOIN embedding e ON e.segment_id = s.id "
				 "LEFT JOIN model mo ON mo.id = e.model_id WHERE s.id = ?1", &x->st_info)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid, l.source FROM label l JOIN class c ON c.id = l.class_id "
				 "WHERE l.segment_id = ?1 AND" NOT_REJECTED("l") "ORDER BY c.mid, l.source",
				 &x->st_src)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid FROM review_decision r JOIN class c ON c.id = r.class_id "
				 "WHERE r.segment_id = ?1 AND r.decision = 'not_present' ORDER BY c.mid",
				 &x->st_neg)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid, s.target, s.prediction, s.stages, s.run_id FROM soft_label s "
				 "JOIN class c ON c.id = s.class_id WHERE s.segment_id = ?1 ORDER BY c.mid",
				 &x->st_soft)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid, f.method, f.scorer, f.n_patches, f.hop_ms, f.n_kept, f.mask, "
				 "f.run_id, fs.scores, fs.n_patches FROM frame_mask f "
				 "JOIN class c ON c.id = f.class_id "
				 "LEFT JOIN frame_score fs ON fs.segment_id = f.segment_id AND "
				 "fs.class_id = f.class_id AND fs.scorer = f.scorer "
				 "WHERE f.segment_id = ?1 "
				 "ORDER BY c.mid, f.method = 'hysteresis' DESC, f.method", &x->st_mask)))
		return rc;
	return AED_OK;
}

/* JSON of a real clip: labels, their sources, refinement, weight, provenance. */
static int seg_json(struct ex *x, const struct xseg *g, const char *split, int audio,
		    json_t **out)
{
	json_t *o = json_object(), *prov = json_object();
	json_t *soft = json_object(), *frames = json_object(), *srcs = json_object();
	int rc = AED_OK, s, refined = 0;

	json_object_set_new(o, "key", json_string(g->key));
	json_object_set_new(o, "ytid", json_string(g->ytid));
	json_object_set_new(o, "start_ms", json_integer(g->start_ms));
	json_object_set_new(o, "end_ms", json_integer(seg_end_ms(g)));
	json_object_set_new(o, "split", json_string(split));
	json_object_set_new(o, "ingest_splits", ingest_json(g->ingest));
	put_labels(x, o, g->cls, g->n_cls);
	json_object_set_new(o, "columns", columns_json(x, g->cls, g->n_cls));
	/* label sources */
	sqlite3_reset(x->st_src);
	sqlite3_bind_int64(x->st_src, 1, g->id);
	while ((s = sqlite3_step(x->st_src)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(x->st_src, 0);
		json_t *a = json_object_get(srcs, mid);
		if (!a) {
			a = json_array();
			json_object_set_new(srcs, mid, a);
		}
		json_array_append_new(a, jstr_or_null(x->st_src, 1));
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: label sources");
		goto out;
	}
	json_object_set_new(o, "label_sources", srcs);
	srcs = NULL;
	/* verified negatives */
	json_t *neg = json_array();
	sqlite3_reset(x->st_neg);
	sqlite3_bind_int64(x->st_neg, 1, g->id);
	while ((s = sqlite3_step(x->st_neg)) == SQLITE_ROW)
		json_array_append_new(neg, jstr_or_null(x->st_neg, 0));
	json_object_set_new(o, "negatives", neg);
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: review decisions");
		goto out;
	}
	/* SeCoST soft labels */
	sqlite3_reset(x->st_soft);
	sqlite3_bind_int64(x->st_soft, 1, g->id);
	while ((s = sqlite3_step(x->st_soft)) == SQLITE_ROW) {
		json_object_set_new(soft, (const char *)sqlite3_column_text(x->st_soft, 0),
				    json_pack("{s:f, s:f, s:I}", "target", sqlite3_column_double(x->st_soft, 1),
					      "prediction", sqlite3_column_double(x->st_soft, 2), "stages",
					      (json_int_t)sqlite3_column_int64(x->st_soft, 3)));
		refined = 1;
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: soft labels");
		goto out;
	}
	/* refined frames: per class the preferred method's mask and its scorer's scores */
	sqlite3_reset(x->st_mask);
	sqlite3_bind_int64(x->st_mask, 1, g->id);
	while ((s = sqlite3_step(x->st_mask)) == SQLITE_ROW) {
		sqlite3_stmt *st = x->st_mask;
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		if (json_object_get(frames, mid))
			continue;
		int np = sqlite3_column_int(st, 3);
		const uint8_t *mask = sqlite3_column_blob(st, 6);
		int mlen = sqlite3_column_bytes(st, 6);
		json_t *f = json_object(), *ma = json_array(), *sc = json_null();
		for (int i = 0; i < np && i < mlen; i++)
			json_array_append_new(ma, json_integer(mask[i] ? 1 : 0));
		if (sqlite3_column_type(st, 8) == SQLITE_BLOB) {
			const uint8_t *b = sqlite3_column_blob(st, 8);
			int n = sqlite3_column_bytes(st, 8) / 4;
			sc = json_array();
			for (int i = 0; i < n; i++) {
				float v;
				memcpy(&v, b + 4 * i, 4);
				json_array_append_new(sc, json_real(v));
			}
		}
		json_object_set_new(f, "method", jstr_or_null(st, 1));
		json_object_set_new(f, "scorer", jstr_or_null(st, 2));
		json_object_set_new(f, "hop_ms", json_integer(sqlite3_column_int64(st, 4)));
		json_object_set_new(f, "n_patches", json_integer(np));
		json_object_set_new(f, "n_kept", json_integer(sqlite3_column_int64(st, 5)));
		json_object_set_new(f, "mask", ma);
		json_object_set_new(f, "scores", sc);
		json_object_set_new(frames, mid, f);
		refined = 1;
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: frame masks");
		goto out;
	}
	json_object_set_new(o, "refined", json_boolean(refined));
	json_object_set_new(o, "soft_labels", soft);
	json_object_set_new(o, "frames", frames);
	soft = frames = NULL;
	json_object_set_new(o, "audio",
			    json_pack("{s:i, s:I, s:s*}", "sample_rate", AED_SAMPLE_RATE, "n_samples",
				      (json_int_t)g->n_samples, "member", audio ? "flac" : NULL));
	/* provenance */
	sqlite3_reset(x->st_info);
	sqlite3_bind_int64(x->st_info, 1, g->id);
	if (sqlite3_step(x->st_info) != SQLITE_ROW) {
		rc = aed_db_error(x->db, "export: provenance");
		goto out;
	}
	sqlite3_stmt *st = x->st_info;
	json_object_set_new(prov, "augmented", json_false());
	json_object_set_new(prov, "source_group", json_string(g->group));
	json_object_set_new(prov, "source", jstr_or_null(st, 0));
	json_object_set_new(prov, "fetch_kind", jstr_or_null(st, 1));
	json_object_set_new(prov, "sha256", jstr_or_null(st, 2));
	json_object_set_new(prov, "model",
			    sqlite3_column_type(st, 7) == SQLITE_NULL
				    ? json_null()
				    : json_pack("{s:o, s:o}", "name", jstr_or_null(st, 7), "sha256",
						jstr_or_null(st, 8)));
	/* No run ids: they are local to a database, and a sample must come out
	 * the same from a corpus merged from shards as from one database. The
	 * runs that made the export are manifest.json's `runs`. */
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		json_t *meta = json_loads((const char *)sqlite3_column_text(st, 9), 0, NULL);
		if (meta)
			json_object_set_new(prov, "meta", meta);
	}
	json_object_set_new(o, "provenance", prov);
	prov = NULL;
	*out = o;
	o = NULL;
out:
	json_decref(o);
	json_decref(prov);
	json_decref(soft);
	json_decref(frames);
	json_decref(srcs);
	return rc;
}

static int mix_json(struct ex *x, const struct xmix *m, const char *split, size_t n_samples,
		    int audio, json_t **out)
{
	const struct xseg *a = &x->seg[m->a], *b = &x->seg[m->b];
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(m->key));
	json_object_set_new(o, "ytid", json_string(a->ytid));
	json_object_set_new(o, "start_ms", json_integer(a->start_ms));
	json_object_set_new(o, "end_ms", json_integer(a->start_ms + ((int64_t)n_samples * 1000 +
								      AED_SAMPLE_RATE / 2) / AED_SAMPLE_RATE));
	json_object_set_new(o, "split", json_string(split));
	json_object_set_new(o, "ingest_splits", json_array());
	put_labels(x, o, m->cls_union, m->n_cls);
	json_object_set_new(o, "columns", columns_json(x, m->cls_union, m->n_cls));
	json_object_set_new(o, "label_sources", json_object());
	json_object_set_new(o, "negatives", json_array());
	json_object_set_new(o, "refined", json_false());
	json_object_set_new(o, "soft_labels", json_object());
	json_object_set_new(o, "frames", json_object());
	json_object_set_new(o, "audio",
			    json_pack("{s:i, s:I, s:s*}", "sample_rate", AED_SAMPLE_RATE, "n_samples",
				      (json_int_t)n_samples, "member", audio ? "flac" : NULL));
	json_object_set_new(
		o, "provenance",
		json_pack("{s:b, s:s, s:{s:s, s:s, s:s, s:f, s:f, s:{s:s, s:f, s:f, s:f}}}",
			  "augmented", 1, "source_group", a->group, "mix", "class", x->cls[m->cls].mid,
			  "a", a->key, "b", b->key, "delay_s", m->delay_s, "gain_db", m->gain_db, "eq",
			  "type", "peaking", "freq_hz", m->eq_hz, "gain_db", m->eq_db, "q", 1.0));
	*out = o;
	return o ? AED_OK : aed_error(AED_ENOMEM, "export: out of memory");
}

/* --- PCA over the corpus -------------------------------------------------------------- */

static size_t n_seconds(int64_t n_samples, int64_t n_total)
{
	int64_t real = n_samples < n_total ? n_samples : n_total;
	size_t s = (size_t)((real + AED_SAMPLE_RATE - 1) / AED_SAMPLE_RATE);
	return s ? s : 1;
}

static int fit_pca(struct ex *x)
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

static int write_pca(struct ex *x, const char *dir)
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
static int tfrecord_sample(struct ex *x, const struct xseg *g, struct aed_buf *out)
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
	qsort(labels, nl, sizeof *labels, cmp_i64);
	double start = (double)g->start_ms / 1000.0;
	double end = (double)seg_end_ms(g) / 1000.0;
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

/* --- writing ------------------------------------------------------------------------- */

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
	target_row(x, cls, n, row);
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

/* The bulk members of one WebDataset sample, made by a worker thread with its
 * own database handle: FLAC bytes, log-mel and embedding arrays. */
struct prep {
	struct aed_buf flac;
	struct aed_array logmel, emb; /* data malloc'd (aed_array_release) */
	size_t n_audio;               /* samples of the audio (mixes: rendered length) */
	int rc;
	char err[512];
};

static void prep_release(struct prep *p)
{
	aed_buf_release(&p->flac);
	aed_array_release(&p->logmel);
	aed_array_release(&p->emb);
	memset(p, 0, sizeof *p);
}

static int prep_sample(const struct ex *x, struct aed_db *db, const struct xsample *sm,
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
		if ((rc = render_mix(x, db, m, &mixpcm, &n)))
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
static int wds_emit(struct ex *x, const struct xsample *sm, const struct prep *p, struct aed_tar *t)
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
		rc = seg_json(x, &x->seg[sm->seg], split, audio, &j);
	else
		rc = mix_json(x, &x->mix[sm->mix], split, p->n_audio, audio, &j);
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

/* Workers prepare a window of samples, t-th worker every T-th sample; the
 * writer then emits them in order, so the bytes do not depend on T. */
struct prep_job {
	const struct ex *x;
	struct aed_db *db;
	const struct xsample *smp;
	struct prep *preps;
	size_t n;
	int t, T;
};

static void *prep_worker(void *arg)
{
	struct prep_job *j = arg;
	for (size_t i = (size_t)j->t; i < j->n; i += (size_t)j->T) {
		struct prep *p = &j->preps[i];
		p->rc = prep_sample(j->x, j->db, &j->smp[i], p);
		if (p->rc)
			snprintf(p->err, sizeof p->err, "%s", aed_last_error());
	}
	return NULL;
}

struct shard_info {
	char name[64];
	int split;
	int64_t samples, bytes;
	char sha256[65];
};

static int write_shards(struct ex *x, const char *dir, struct shard_info **infos, size_t *n_infos,
			struct aed_export_result *r)
{
	const char *ext = x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar";
	struct shard_info *si = calloc((size_t)r->n_shards + 1, sizeof *si);
	struct aed_progress *prog = aed_progress_new("export", (int64_t)x->n_smp);
	struct aed_tar *t = NULL;
	struct aed_buf rec = { 0 };
	char path[4096];
	size_t ni = 0, w0 = 0, wn = 0;
	int rc = AED_OK;
	int T = x->opt.threads > 0 ? x->opt.threads : aed_ncpu();
	if (T > 16)
		T = 16;
	const size_t window = 16 * (size_t)T;
	struct aed_db *wdb[16] = { 0 };
	struct prep *preps = calloc(window, sizeof *preps);

	if (!si || !preps) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	for (int t = 1; t < T && x->opt.format == AED_EXPORT_WEBDATASET; t++)
		if ((rc = aed_db_open(aed_db_path(x->db), AED_DB_READONLY, &wdb[t])))
			goto out;
	wdb[0] = x->db;
	for (size_t i = 0; i < x->n_smp; i++) {
		const struct xsample *sm = &x->smp[i];
		if (x->opt.format == AED_EXPORT_WEBDATASET && i == w0 + wn) {
			/* prepare the next window on T threads (the first on this one) */
			for (size_t k = 0; k < wn; k++)
				prep_release(&preps[k]);
			w0 = i;
			wn = x->n_smp - i < window ? x->n_smp - i : window;
			struct prep_job jobs[16];
			pthread_t th[16];
			int started[16] = { 0 };
			for (int t = 0; t < T; t++)
				jobs[t] = (struct prep_job){ x, wdb[t], x->smp + w0, preps, wn, t, T };
			for (int t = 1; t < T; t++)
				started[t] = !pthread_create(&th[t], NULL, prep_worker, &jobs[t]);
			prep_worker(&jobs[0]);
			for (int t = 1; t < T; t++) {
				if (started[t])
					pthread_join(th[t], NULL);
				else
					prep_worker(&jobs[t]); /* no thread: do its share here */
			}
		}
		if (sm->position == 0) {
			struct shard_info *s = &si[ni++];
			snprintf(s->name, sizeof s->name, "%s-%06d.%s", x->opt.splits[sm->split].name,
				 sm->shard, ext);
			s->split = sm->split;
			snprintf(path, sizeof path, "%s/%s", dir, s->name);
			if (x->opt.format == AED_EXPORT_WEBDATASET &&
			    (rc = aed_tar_open(path, x->opt.mtime, &t)))
				goto out;
			rec.len = 0;
		}
		struct shard_info *s = &si[ni - 1];
		if (x->opt.format == AED_EXPORT_WEBDATASET) {
			const struct prep *p = &preps[i - w0];
			if (p->rc)
				rc = aed_error(p->rc, "%s", p->err);
			else
				rc = wds_emit(x, sm, p, t);
		} else
			rc = tfrecord_sample(x, &x->seg[sm->seg], &rec);
		if (rc)
			goto out;
		s->samples++;
		aed_progress_add(prog, 1);
		int last = i + 1 == x->n_smp || x->smp[i + 1].position == 0;
		if (!last)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, s->name);
		if (x->opt.format == AED_EXPORT_WEBDATASET) {
			if ((rc = aed_tar_close(&t)))
				goto out;
		} else if ((rc = aed_write_file_atomic(path, rec.data ? rec.data : "", rec.len))) {
			goto out;
		}
		struct stat stt;
		if (stat(path, &stt)) {
			rc = aed_error(AED_EIO, "%s: cannot stat the shard just written", path);
			goto out;
		}
		s->bytes = (int64_t)stt.st_size;
		r->bytes += s->bytes;
		if ((rc = aed_sha256_file(path, s->sha256)))
			goto out;
	}
	*infos = si;
	*n_infos = ni;
	si = NULL;
out:
	aed_tar_abort(&t);
	aed_buf_release(&rec);
	aed_progress_free(&prog);
	for (size_t k = 0; preps && k < wn; k++)
		prep_release(&preps[k]);
	free(preps);
	for (int k = 1; k < 16; k++)
		aed_db_free(&wdb[k]);
	free(si);
	return rc;
}

/* The files of this export, for the folder's file list (outdir.h): planned
 * shards (si NULL) or those written, and the files beside them. A caller's
 * names[] points into names_buf or at literals; free both. */
static int export_files(const struct ex *x, const struct shard_info *si, size_t n_si,
			const char ***names, size_t *n, char **names_buf)
{
	static const char *const beside[] = { "index.json", "manifest.json", "README.md",
					      "class_counts.csv", "priors.csv", "classes.json",
					      "pos_weight.npy" };
	static const char *const pca[] = { "pca_mean.npy", "pca_components.npy", "pca.json" };
	const char *ext = x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar";
	size_t n_shards = 0, k = 0;

	if (si)
		n_shards = n_si;
	else
		for (size_t i = 0; i < x->n_smp; i++)
			n_shards += x->smp[i].position == 0;
	size_t n_named = n_shards + (size_t)x->opt.n_splits; /* shards, SPLIT.wids.json */
	const char **v = malloc((n_named + 16) * sizeof *v);
	char *buf = malloc(n_named * 64 + 1);
	if (!v || !buf) {
		free(v);
		free(buf);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	for (size_t i = 0, j = 0; i < (si ? n_si : x->n_smp); i++) {
		if (si) {
			v[k++] = si[i].name;
			continue;
		}
		if (x->smp[i].position != 0)
			continue;
		snprintf(buf + 64 * j, 64, "%s-%06d.%s", x->opt.splits[x->smp[i].split].name,
			 x->smp[i].shard, ext);
		v[k++] = buf + 64 * j++;
	}
	for (int s = 0; s < x->opt.n_splits; s++) {
		snprintf(buf + 64 * (n_shards + (size_t)s), 64, "%s.wids.json", x->opt.splits[s].name);
		v[k++] = buf + 64 * (n_shards + (size_t)s);
	}
	for (size_t i = 0; i < sizeof beside / sizeof *beside; i++)
		v[k++] = beside[i];
	for (size_t i = 0; x->opt.format == AED_EXPORT_TFRECORD && i < sizeof pca / sizeof *pca; i++)
		v[k++] = pca[i];
	*names = v;
	*n = k;
	*names_buf = buf;
	return AED_OK;
}

static const char *format_name(enum aed_export_format f)
{
	return f == AED_EXPORT_TFRECORD ? "tfrecord" : "webdataset";
}

static json_t *payload_json(unsigned p)
{
	json_t *a = json_array();
	if (p & AED_PAYLOAD_AUDIO)
		json_array_append_new(a, json_string("audio"));
	if (p & AED_PAYLOAD_LOGMEL)
		json_array_append_new(a, json_string("logmel"));
	if (p & AED_PAYLOAD_EMBEDDING)
		json_array_append_new(a, json_string("embedding"));
	return a;
}

static json_t *params_json(const struct ex *x)
{
	json_t *sp = json_object();
	for (int i = 0; i < x->opt.n_splits; i++)
		json_object_set_new(sp, x->opt.splits[i].name, json_real(x->opt.splits[i].fraction));
	json_t *keep = json_object();
	for (int k = 0; k < x->opt.n_keep; k++)
		json_object_set_new(keep, x->opt.keep[k].from, json_string(x->opt.keep[k].to));
	return json_pack("{s:s, s:{s:I, s:I}, s:o, s:I, s:I, s:o, s:b, s:I, s:I, s:o, s:b, s:f}",
			 "format", format_name(x->opt.format), "balance", "min", (json_int_t)x->opt.min,
			 "max", (json_int_t)x->opt.max, "splits", sp, "shard_size",
			 (json_int_t)x->opt.shard_size, "shards_per_split",
			 (json_int_t)x->opt.shards_per_split, "payload", payload_json(x->opt.payload),
			 "mix_augment", x->opt.mix_augment, "seed", (json_int_t)x->opt.seed, "mtime",
			 (json_int_t)x->opt.mtime, "keep_split", keep, "ancestors", !x->opt.no_ancestors,
			 "beta", x->opt.beta);
}

static int write_json_file(const char *dir, const char *name, json_t *j, char sha[65])
{
	char path[4096];
	char *s = j ? json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) : NULL;
	int rc;
	if (!s)
		return aed_error(AED_ENOMEM, "export: JSON of %s", name);
	size_t n = strlen(s);
	s[n] = '\0';
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char *t = malloc(n + 2);
	if (!t) {
		free(s);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	memcpy(t, s, n);
	t[n] = '\n';
	rc = aed_write_file_atomic(path, t, n + 1);
	if (sha)
		aed_sha256_hex(t, n + 1, sha);
	free(s);
	free(t);
	return rc;
}

static int write_index(struct ex *x, const char *dir, const struct shard_info *si, size_t n,
		       char sha[65])
{
	const char *ext = x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar";
	json_t *splits = json_object();
	int rc = AED_OK;
	for (int s = 0; s < x->opt.n_splits && !rc; s++) {
		const char *sn = x->opt.splits[s].name;
		json_t *arr = json_array(), *wl = json_array();
		int64_t cnt = 0, nsh = 0;
		for (size_t i = 0; i < n; i++)
			if (si[i].split == s) {
				json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:s}", "name", si[i].name,
								     "samples", (json_int_t)si[i].samples,
								     "bytes", (json_int_t)si[i].bytes,
								     "sha256", si[i].sha256));
				json_array_append_new(wl, json_pack("{s:s, s:I}", "url", si[i].name, "nsamples",
								    (json_int_t)si[i].samples));
				cnt += si[i].samples;
				nsh++;
			}
		/* the brace pattern webdataset and tf.data users expand; shards are
		 * numbered from 0 without gaps */
		char pat[128], wname[64];
		if (nsh > 1)
			snprintf(pat, sizeof pat, "%s-{000000..%06lld}.%s", sn, (long long)(nsh - 1), ext);
		else
			snprintf(pat, sizeof pat, "%s-000000.%s", sn, ext);
		snprintf(wname, sizeof wname, "%s.wids.json", sn);
		json_t *w = json_pack("{s:s, s:i, s:s, s:o}", "__kind__", "wids-shard-index-v1",
				      "wids_version", 1, "name", sn, "shardlist", wl);
		rc = write_json_file(dir, wname, w, NULL);
		json_decref(w);
		json_object_set_new(splits, sn,
				    json_pack("{s:I, s:s, s:s, s:o}", "samples", (json_int_t)cnt, "pattern",
					      nsh ? pat : "", "wids", wname, "shards", arr));
	}
	if (rc) {
		json_decref(splits);
		return rc;
	}
	json_t *members = json_array();
	if (x->opt.format == AED_EXPORT_WEBDATASET) {
		if (x->opt.payload & AED_PAYLOAD_AUDIO)
			json_array_append_new(members, json_string("flac"));
		json_array_append_new(members, json_string("json"));
		json_array_append_new(members, json_string("labels.npy"));
		if (x->opt.payload & AED_PAYLOAD_LOGMEL)
			json_array_append_new(members, json_string("logmel.npy"));
		if (x->opt.payload & AED_PAYLOAD_EMBEDDING)
			json_array_append_new(members, json_string("embedding.npy"));
	}
	json_t *opt = json_array();
	if (x->opt.format == AED_EXPORT_WEBDATASET) {
		json_array_append_new(opt, json_string("soft.npy"));
		json_array_append_new(opt, json_string("mask.npy"));
	}
	json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:o}", "format", format_name(x->opt.format),
			      "key", "{ytid}_{start_ms}", "members", members, "optional_members", opt,
			      "classes", "classes.json", "pos_weight", "pos_weight.npy", "splits", splits);
	rc = write_json_file(dir, "index.json", j, sha);
	json_decref(j);
	return rc;
}

static int write_csvs(struct ex *x, const char *dir)
{
	struct aed_buf b = { 0 };
	char path[4096];
	int rc = AED_OK;

	/* class_counts.csv */
	aed_buf_printf(&b, "index,mid,display_name,available,selected,augmented");
	for (int s = 0; s < x->opt.n_splits; s++)
		aed_buf_printf(&b, ",%s", x->opt.splits[s].name);
	aed_buf_printf(&b, "\n");
	int *by_rank = malloc((x->n_cls + 1) * sizeof *by_rank);
	if (!by_rank)
		return aed_error(AED_ENOMEM, "export: out of memory");
	for (size_t i = 0; i < x->n_cls; i++)
		by_rank[i] = (int)i; /* class id order */
	for (size_t i = 0; i < x->n_cls; i++) {
		const struct xclass *c = &x->cls[by_rank[i]];
		char idx[24] = "";
		if (c->label_index >= 0)
			snprintf(idx, sizeof idx, "%lld", (long long)c->label_index);
		int quote = strchr(c->name, ',') || strchr(c->name, '"');
		aed_buf_printf(&b, "%s,%s,%s", idx, c->mid, quote ? "\"" : "");
		for (const char *p = c->name; *p; p++)
			aed_buf_printf(&b, *p == '"' ? "\"\"" : "%c", *p);
		aed_buf_printf(&b, "%s,%lld,%lld,%lld", quote ? "\"" : "", (long long)c->avail,
			       (long long)c->sel, (long long)c->aug);
		for (int s = 0; s < x->opt.n_splits; s++)
			aed_buf_printf(&b, ",%lld", (long long)c->split_n[s]);
		aed_buf_printf(&b, "\n");
	}
	free(by_rank);
	snprintf(path, sizeof path, "%s/class_counts.csv", dir);
	if ((rc = aed_write_file_atomic(path, b.data, b.len)))
		goto out;
	/* priors.csv: the columns' train priors and pos_weight, as pos_weight.npy */
	b.len = 0;
	aed_buf_printf(&b, "column,index,mid,display_name,n_pos,n_total,prior,pos_weight\n");
	for (int k = 0; k < x->n_cols; k++) {
		const struct xclass *c = &x->cls[x->col_cls[k]];
		char idx[24] = "";
		if (c->label_index >= 0)
			snprintf(idx, sizeof idx, "%lld", (long long)c->label_index);
		int quote = strchr(c->name, ',') || strchr(c->name, '"');
		aed_buf_printf(&b, "%d,%s,%s,%s", k, idx, c->mid, quote ? "\"" : "");
		for (const char *p = c->name; *p; p++)
			aed_buf_printf(&b, *p == '"' ? "\"\"" : "%c", *p);
		aed_buf_printf(&b, "%s,%lld,%lld,%.9g,%.9g\n", quote ? "\"" : "",
			       (long long)c->pos_n[0], (long long)x->split_total[0], c->prior, c->weight);
	}
	snprintf(path, sizeof path, "%s/priors.csv", dir);
	rc = aed_write_file_atomic(path, b.data ? b.data : "", b.len);
out:
	aed_buf_release(&b);
	return rc;
}

/* "eval=test,...": the keep rules as given on the command line */
static void keep_str(const struct ex *x, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (int k = 0; k < x->opt.n_keep; k++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s=%s", k ? "," : "", x->opt.keep[k].from,
			 x->opt.keep[k].to);
}

/* classes.json and pos_weight.npy: what a model head and its loss need. */
static int write_classes(struct ex *x, const char *dir)
{
	char path[4096];
	float *pw = malloc(((size_t)x->n_cols + 1) * sizeof *pw);
	json_t *cols = json_array(), *tot = json_object();
	int rc;

	if (!pw) {
		json_decref(cols);
		json_decref(tot);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	for (int s = 0; s < x->opt.n_splits; s++)
		json_object_set_new(tot, x->opt.splits[s].name, json_integer(x->split_total[s]));
	for (int k = 0; k < x->n_cols; k++) {
		const struct xclass *c = &x->cls[x->col_cls[k]];
		json_t *anc = json_array(), *pos = json_object();
		int *ac = malloc(((size_t)c->n_anc + 1) * sizeof *ac), na = 0;
		for (int j = 0; ac && j < c->n_anc; j++)
			if (x->cls[c->anc[j]].col >= 0)
				ac[na++] = x->cls[c->anc[j]].col;
		qsort(ac, (size_t)na, sizeof *ac, cmp_int);
		for (int j = 0; j < na; j++)
			json_array_append_new(anc, json_integer(ac[j]));
		free(ac);
		for (int s = 0; s < x->opt.n_splits; s++)
			json_object_set_new(pos, x->opt.splits[s].name, json_integer(c->pos_n[s]));
		json_array_append_new(cols, json_pack("{s:i, s:o, s:s, s:s, s:o, s:o, s:f, s:f}", "column", k,
						      "index", c->label_index >= 0 ? json_integer(c->label_index)
										   : json_null(),
						      "mid", c->mid, "name", c->name, "ancestors", anc,
						      "positives", pos, "prior", c->prior, "pos_weight",
						      c->weight));
		pw[k] = (float)c->weight;
	}
	json_t *j = json_pack("{s:i, s:o, s:s, s:b, s:f, s:s, s:o}", "n_columns", x->n_cols, "samples", tot,
			      "train_split", x->opt.splits[0].name, "ancestors", !x->opt.no_ancestors,
			      "beta", x->opt.beta, "pos_weight",
			      "torch.nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(np.load("
			      "'pos_weight.npy'))): positives of column c weigh pos_weight[c], negatives 1",
			      "columns", cols);
	rc = write_json_file(dir, "classes.json", j, NULL);
	json_decref(j);
	int64_t d[1] = { x->n_cols };
	snprintf(path, sizeof path, "%s/pos_weight.npy", dir);
	if (!rc)
		rc = aed_npy_write(path, AED_F32, 1, d, pw);
	free(pw);
	return rc;
}

static int write_manifest(struct ex *x, const char *dir, const struct aed_export_result *r)
{
	char now[32];
	json_t *classes = json_array(), *runs = json_object(), *models = json_array();
	sqlite3_stmt *st = NULL;
	int rc;

	for (size_t i = 0; i < x->n_cls; i++) {
		const struct xclass *c = &x->cls[i];
		json_t *per = json_object();
		for (int s = 0; s < x->opt.n_splits; s++)
			json_object_set_new(per, x->opt.splits[s].name, json_integer(c->split_n[s]));
		const char *why = NULL;
		if (c->sel < x->opt.min)
			why = c->avail < x->opt.min ? "fewer candidates than min"
						    : "remaining candidates carry a class already at max";
		json_array_append_new(classes,
				      json_pack("{s:o, s:o, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:s*}", "column",
						c->col >= 0 ? json_integer(c->col) : json_null(), "index",
						c->label_index >= 0 ? json_integer(c->label_index) : json_null(),
						"mid", c->mid, "name", c->name, "available", (json_int_t)c->avail,
						"selected", (json_int_t)c->sel, "augmented", (json_int_t)c->aug,
						"pos_weight", c->col >= 0 ? json_real(c->weight) : json_null(),
						"per_split", per, "below_min", why));
	}
	if ((rc = aed_db_prepare(x->db,
				 "SELECT stage, group_concat(id) FROM (SELECT stage, id FROM run "
				 "WHERE outcome = 'ok' AND stage IN ('fetch','decode','features','embed',"
				 "'priors','refine') ORDER BY id) GROUP BY stage ORDER BY stage", &st)))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(runs, (const char *)sqlite3_column_text(st, 0),
				    json_string((const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
	if ((rc = aed_db_prepare(x->db, "SELECT name, sha256, path FROM model ORDER BY id", &st)))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(models, json_pack("{s:s, s:s, s:s}", "name",
							sqlite3_column_text(st, 0), "sha256",
							sqlite3_column_text(st, 1), "path",
							sqlite3_column_text(st, 2)));
	sqlite3_finalize(st);
	st = NULL;
	aed_utc_iso8601(now);
	json_t *counts = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "candidates",
				   (json_int_t)r->n_candidates, "unlabelled", (json_int_t)r->n_unlabelled,
				   "selected", (json_int_t)r->n_selected, "augmented",
				   (json_int_t)r->n_augmented, "refined", (json_int_t)r->n_refined,
				   "classes", (json_int_t)r->n_classes, "classes_below_min",
				   (json_int_t)r->n_below_min, "classes_short_of_candidates",
				   (json_int_t)r->n_short);
	char beta_src[96], keep[AED_EXPORT_MAX_KEEP * 70 + 8] = "";
	if (x->opt.beta_set)
		snprintf(beta_src, sizeof beta_src, "beta %g (--beta)", x->opt.beta);
	else if (x->beta_run)
		snprintf(beta_src, sizeof beta_src, "beta %g, as the priors run %lld", x->opt.beta,
			 (long long)x->beta_run);
	else
		snprintf(beta_src, sizeof beta_src, "beta %g (no priors run: the default)", x->opt.beta);
	keep_str(x, keep, sizeof keep);
	const char *train = x->opt.splits[0].name;
	json_t *src = json_object();
	json_object_set_new(src, "columns", json_string(
		"classes.json: every class carried by an exported sample, ordered by "
		"class_labels_indices index (classes without one last, by mid)"));
	json_object_set_new(src, "labels.npy", json_string(x->opt.no_ancestors
		? "the sample's stored labels (table label, less review rejections); no ancestors (--no-ancestors)"
		: "the sample's stored labels (table label, less review rejections) and every "
		  "ontology ancestor of them (class_closure) that is a column"));
	json_object_set_new(src, "positives", json_string(
		"classes.json positives: per split, samples whose labels.npy has the column set"));
	json_object_set_new(src, "prior", json_pack("s++", "priors.csv prior: positives in split ", train,
		" / samples in that split, over labels.npy targets"));
	json_object_set_new(src, "pos_weight", json_pack("s+++", "pos_weight.npy, classes.json, priors.csv: "
		"(mean prior / prior)^beta, the mean over the columns with a positive in split ", train,
		", 1 for a column without one; ", beta_src));
	json_object_set_new(src, "per_split", json_string(
		"manifest classes per_split and class_counts.csv: samples with the class among "
		"their stored labels (no ancestors), as --balance counts them"));
	json_object_set_new(src, "split", json_pack("s+", "each group of one source in one split, "
		"stratified by class; clips of an ingest split (segment_split, segments ingest --split) "
		"named in keep_split go to that export split: ", *keep ? keep : "none"));
	json_object_set_new(src, "end_ms", json_string(
		"the segment's end, or (open segments) start + real samples / 16 kHz, rounded to the ms"));
	json_t *j = json_pack("{s:s, s:I, s:s, s:o, s:o, s:o, s:s, s:f, s:b, s:s, s:o, s:o, s:o}",
			      "created_at", now, "run_id", (json_int_t)r->run_id, "database",
			      aed_db_path(x->db), "params", params_json(x), "counts", counts, "sources",
			      src, "keep_split", keep, "beta", x->opt.beta, "ancestors",
			      !x->opt.no_ancestors, "sample_weight",
			      "none: loss weights are pos_weight.npy (per column), negatives weigh 1",
			      "classes", classes, "runs", runs, "models", models);
	classes = runs = models = NULL;
	rc = write_json_file(dir, "manifest.json", j, NULL);
	json_decref(j);
out:
	sqlite3_finalize(st);
	json_decref(classes);
	json_decref(runs);
	json_decref(models);
	return rc;
}

static int write_readme(struct ex *x, const char *dir, const struct aed_export_result *r)
{
	struct aed_buf b = { 0 };
	char path[4096], keep[AED_EXPORT_MAX_KEEP * 70 + 8];
	int rc;

	keep_str(x, keep, sizeof keep);
	aed_buf_printf(&b, "# Training shards (%s)\n\n", format_name(x->opt.format));
	aed_buf_printf(&b, "%lld samples (%lld clips, %lld mixes) of %lld classes in %lld shards; "
		       "seed %llu.\n\n", (long long)x->n_smp, (long long)r->n_selected,
		       (long long)r->n_augmented, (long long)r->n_classes, (long long)r->n_shards,
		       (unsigned long long)x->opt.seed);
	aed_buf_printf(&b,
		"## Files\n"
		"- `SPLIT-NNNNNN.%s`: shards of each split, at most %lld samples each, of equal size,\n"
		"  at least %lld per split where it has as many samples (one per DataLoader worker).\n"
		"- `index.json`: per split, the brace pattern of its shards, each shard's name,\n"
		"  sample count, bytes and sha256.\n"
		"- `SPLIT.wids.json`: the split's shard list in wids' format (url, nsamples).\n"
		"- `classes.json`: the %d columns of the targets: index (class_labels_indices),\n"
		"  mid, name, ancestors (columns), positives per split, prior, pos_weight.\n"
		"- `pos_weight.npy`: f32 [%d], the `pos_weight` of a BCE loss whose negatives\n"
		"  weigh 1: (mean prior / prior)^%g over split %s's targets (1 where it has\n"
		"  no positive). No per-sample weight is given: it would count twice.\n"
		"- `manifest.json`: the export's parameters, per-class counts, runs, models and\n"
		"  where each number came from (`sources`).\n"
		"- `class_counts.csv`: per class: candidates, selected clips, mixes, samples per split.\n"
		"- `priors.csv`: per column: train positives, prior and pos_weight.\n",
		x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar", (long long)x->opt.shard_size,
		(long long)x->opt.shards_per_split, x->n_cols, x->n_cols, x->opt.beta,
		x->opt.splits[0].name);
	if (x->opt.format == AED_EXPORT_WEBDATASET)
		aed_buf_printf(&b,
			"\n## WebDataset samples\n"
			"POSIX tar files; every member of a sample is named `KEY.EXT` with KEY =\n"
			"`{ytid}_{start_ms}` (no dots). Members, in this order:\n"
			"- `KEY.flac`: the clip's real samples, 16 kHz mono 16-bit FLAC.\n"
			"- `KEY.json`: `start_ms`, `end_ms`, `split`, `ingest_splits` (the splits it\n"
			"  was ingested into), `mids`, `names`, `labels` (class_labels_indices\n"
			"  indices) of its stored labels, `columns` (set in labels.npy),\n"
			"  `label_sources`, `negatives` (classes annotators decided are absent; such\n"
			"  labels are left out), `refined` (false when no refinement result exists),\n"
			"  `soft_labels` {mid: {target, prediction, stages}}, `frames` {mid: {method,\n"
			"  scorer, hop_ms, n_patches, n_kept, mask, scores}} (patch i starts at\n"
			"  i * hop_ms and lasts 960 ms), `audio` {sample_rate, n_samples},\n"
			"  `provenance` {augmented, source_group, source, fetch_kind, sha256 (of the\n"
			"  fetched file), model, mix}; the runs that made them are manifest.json's\n"
			"  `runs` (run ids are the database's own).\n"
			"- `KEY.labels.npy`: f32 [columns], the multi-hot target over classes.json's\n"
			"  columns: the stored labels%s.\n"
			"- `KEY.soft.npy`: f32 [columns], where SeCoST soft labels exist: labels.npy\n"
			"  with the soft targets in place.\n"
			"- `KEY.mask.npy`: u8 [patches, columns], where refinement stored frame masks:\n"
			"  a refined column's mask (patch i as in `frames`); other columns repeat\n"
			"  labels.npy.\n"
			"- `KEY.logmel.npy`: f32 [frames, 64] YAMNet log-mel (with payload logmel).\n"
			"- `KEY.embedding.npy`: f32 [patches, 1024] YAMNet embeddings (payload embedding).\n",
			x->opt.no_ancestors ? " only" : " and every ancestor of them that is a column");
	else
		aed_buf_printf(&b,
			"\n## TFRecord samples\n"
			"As the AudioSet release's feature files: records framed as uint64 length,\n"
			"masked CRC32C of the length, data, masked CRC32C of the data; each a\n"
			"tf.train.SequenceExample with context video_id, start_time_seconds,\n"
			"end_time_seconds, labels (class_labels_indices indices) and the feature list\n"
			"audio_embedding: one 128-byte string per second. Second s is the mean of the\n"
			"YAMNet patch embeddings overlapping [s, s+1) (patches of 0.96 s every 0.48 s),\n"
			"projected with the PCA in pca_mean.npy / pca_components.npy and whitened by\n"
			"the eigenvalues in pca.json, clipped to [-2, 2] and quantised as\n"
			"floor((x + 2) * 255 / 4). These are YAMNet embeddings, not the VGGish\n"
			"features of the AudioSet release: a model trained on those will not read\n"
			"them. Back to floats: y = (byte + 0.5) * 4 / 255 - 2 (whitened units), and\n"
			"the 1024-d embedding is about mean + sum_k y_k sqrt(eigenvalue_k) components[k].\n"
			"end_time_seconds is the JSON end_ms / 1000 of the same clip.\n");
	aed_buf_printf(&b,
		"\n## Selection\n"
		"Every class gets at least min (%lld) and at most max (%lld, 0 = no cap) clips\n"
		"where the corpus allows; a clip counts for all its labels. Classes are served\n"
		"rarest first. Splits keep each source group (video or recording) whole and\n"
		"follow each class's fractions. Clips ingested into a split named in\n"
		"keep_split (here: %s) go to the export split it names.%s\n",
		(long long)x->opt.min, (long long)x->opt.max, *keep ? keep : "none",
		x->opt.mix_augment ? "\nMixes of two same-class clips of one split (random delay,\n"
				     "gain and peaking EQ) top up classes below min; their JSON says\n"
				     "augmented: true." : "");
	snprintf(path, sizeof path, "%s/README.md", dir);
	rc = aed_write_file_atomic(path, b.data, b.len);
	aed_buf_release(&b);
	return rc;
}

static int record_export(struct ex *x, const char *dir, const char *index_sha,
			 const struct aed_export_result *r)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	json_t *p = params_json(x);
	char *ps = p ? json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	int rc;

	json_decref(p);
	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(x->db)))
		goto out;
	if ((rc = aed_db_prepare(x->db,
				 "INSERT INTO export (run_id, out_dir, format, params, n_samples, "
				 "n_augmented, n_shards, index_sha256, created_at) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->run_id);
	sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, format_name(x->opt.format), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ps ? ps : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)x->n_smp);
	sqlite3_bind_int64(st, 6, r->n_augmented);
	sqlite3_bind_int64(st, 7, r->n_shards);
	sqlite3_bind_text(st, 8, index_sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: recording the export");
		goto out;
	}
	int64_t eid = sqlite3_last_insert_rowid(aed_db_sqlite(x->db));
	sqlite3_finalize(st);
	if ((rc = aed_db_prepare(x->db,
				 "INSERT INTO export_sample (export_id, key, segment_id, split, shard, "
				 "position, mix_a, mix_b) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)))
		goto out;
	for (size_t i = 0; i < x->n_smp; i++) {
		const struct xsample *sm = &x->smp[i];
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, eid);
		sqlite3_bind_text(st, 2, sm->key, -1, SQLITE_STATIC);
		if (sm->seg >= 0)
			sqlite3_bind_int64(st, 3, x->seg[sm->seg].id);
		sqlite3_bind_text(st, 4, x->opt.splits[sm->split].name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, sm->shard);
		sqlite3_bind_int(st, 6, sm->position);
		if (sm->mix >= 0) {
			sqlite3_bind_int64(st, 7, x->seg[x->mix[sm->mix].a].id);
			sqlite3_bind_int64(st, 8, x->seg[x->mix[sm->mix].b].id);
		}
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(x->db, "export: recording samples");
			goto out;
		}
	}
	rc = aed_db_commit(x->db);
out:
	if (rc)
		aed_db_rollback(x->db);
	sqlite3_finalize(st);
	free(ps);
	return rc;
}

static int count_refined(struct ex *x, struct aed_export_result *r)
{
	sqlite3_stmt *st = NULL;
	int rc = aed_db_prepare(x->db,
				"SELECT EXISTS (SELECT 1 FROM frame_mask WHERE segment_id = ?1) OR "
				"EXISTS (SELECT 1 FROM soft_label WHERE segment_id = ?1)", &st);
	if (rc)
		return rc;
	for (size_t i = 0; i < x->n_seg; i++) {
		if (!x->seg[i].sel)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, x->seg[i].id);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0))
			r->n_refined++;
	}
	sqlite3_finalize(st);
	return AED_OK;
}

static void ex_release(struct ex *x)
{
	for (size_t i = 0; i < x->n_cls; i++) {
		free(x->cls[i].mid);
		free(x->cls[i].name);
	}
	for (size_t i = 0; i < x->n_cls; i++)
		free(x->cls[i].anc);
	free(x->cls);
	free(x->col_cls);
	for (size_t i = 0; i < x->n_seg; i++) {
		free(x->seg[i].ingest);
		free(x->seg[i].key);
		free(x->seg[i].ytid);
		free(x->seg[i].group);
		free(x->seg[i].cls);
	}
	free(x->seg);
	for (size_t i = 0; i < x->n_mix; i++) {
		free(x->mix[i].cls_union);
		free(x->mix[i].key);
	}
	free(x->mix);
	free(x->smp);
	sqlite3_finalize(x->st_info);
	sqlite3_finalize(x->st_src);
	sqlite3_finalize(x->st_soft);
	sqlite3_finalize(x->st_mask);
	sqlite3_finalize(x->st_neg);
	if (x->have_pca)
		aed_pca_release(&x->pca);
}

int aed_export(struct aed_db *db, const struct aed_export_opts *o, struct aed_export_result *r)
{
	struct ex x = { .db = db, .o = o, .opt = *o };
	struct shard_info *si = NULL;
	struct aed_outdir od = { 0 };
	const char **files = NULL;
	size_t n_si = 0, n_files = 0;
	char *params = NULL, *files_buf = NULL, index_sha[65] = "";
	int64_t run_id = 0;
	int rc;

	memset(r, 0, sizeof *r);
	if (!o->out_dir || !*o->out_dir)
		return aed_error(AED_EUSAGE, "export: --out DIR is required");
	if (!x.opt.n_splits) {
		struct aed_export_opts d = { 0 };
		aed_export_parse_splits("train=0.8,val=0.1,test=0.1", &d);
		memcpy(x.opt.splits, d.splits, sizeof d.splits);
		x.opt.n_splits = d.n_splits;
	}
	memcpy(r->splits, x.opt.splits, sizeof r->splits);
	r->n_splits = x.opt.n_splits;
	if (!x.opt.shard_size)
		x.opt.shard_size = AED_EXPORT_SHARD_SIZE_DEFAULT;
	if (!x.opt.shards_per_split)
		x.opt.shards_per_split = AED_EXPORT_SHARDS_PER_SPLIT_DEFAULT;
	if (x.opt.shards_per_split < 0)
		return aed_error(AED_EUSAGE, "export: --shards-per-split must be >= 1");
	if (x.opt.beta_set && !(x.opt.beta >= 0 && isfinite(x.opt.beta)))
		return aed_error(AED_EUSAGE, "export: --beta must be a number >= 0, not %g", x.opt.beta);
	if (!x.opt.keep_set) {
		/* an evaluation list (AudioSet's eval_segments.csv) stays out of train */
		for (int i = 0; i < x.opt.n_splits; i++)
			if (!strcmp(x.opt.splits[i].name, "test")) {
				x.opt.keep[0] = (struct aed_export_keep){ "eval", "test" };
				x.opt.n_keep = 1;
			}
	}
	if (!x.opt.beta_set) {
		/* as the priors stage weighed its classes; 1 (fully balanced) without one */
		sqlite3_stmt *bs = NULL;
		x.opt.beta = 1.0;
		if (!aed_db_prepare(db, "SELECT beta, run_id FROM class_prior ORDER BY run_id DESC LIMIT 1",
				    &bs) && sqlite3_step(bs) == SQLITE_ROW) {
			x.opt.beta = sqlite3_column_double(bs, 0);
			x.beta_run = sqlite3_column_int64(bs, 1);
		}
		sqlite3_finalize(bs);
	}
	r->beta = x.opt.beta;
	if (x.opt.shard_size < 0)
		return aed_error(AED_EUSAGE, "export: --shard-size must be >= 1");
	if (!x.opt.payload)
		x.opt.payload = x.opt.format == AED_EXPORT_WEBDATASET ? AED_PAYLOAD_AUDIO : 0;
	if (x.opt.format == AED_EXPORT_TFRECORD && o->payload)
		return aed_error(AED_EUSAGE, "export: --payload applies to webdataset; TFRecord "
				 "shards hold the 128-d quantised embeddings");
	if (x.opt.mix_augment && x.opt.format == AED_EXPORT_TFRECORD)
		return aed_error(AED_EUSAGE, "export: --mix-augment needs --format webdataset (a mix "
				 "has no YAMNet embedding to put in a TFRecord)");
	if (x.opt.mix_augment && x.opt.payload & AED_PAYLOAD_EMBEDDING)
		return aed_error(AED_EUSAGE, "export: --mix-augment cannot go with --payload embedding "
				 "(a mix has no YAMNet embedding)");
	if (x.opt.mix_augment && !x.opt.min)
		return aed_error(AED_EUSAGE, "export: --mix-augment tops classes up to min: give "
				 "--balance min=N");
	if (x.opt.max && x.opt.min > x.opt.max)
		return aed_error(AED_EUSAGE, "export: min %lld is above max %lld", (long long)x.opt.min,
				 (long long)x.opt.max);
	/* Only an empty or new folder or an earlier export is written into:
	 * refused before anything else happens, so a refusal changes nothing. */
	if ((rc = aed_outdir_claim(o->out_dir, "training-export", &od)))
		return rc;
	{
		json_t *p = params_json(&x);
		json_object_set_new(p, "out", json_string(o->out_dir));
		params = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(9));
		json_decref(p);
	}
	if ((rc = aed_run_begin(db, STAGE, params ? params : "{}", &run_id)))
		goto out;
	r->run_id = run_id;
	if ((rc = load(&x, r)) || (rc = check_keys(&x)))
		goto fail;
	if (!x.n_seg) {
		rc = aed_error(AED_ESTATE, "export: no labelled clips%s to export (run decode%s first)",
			       x.opt.format == AED_EXPORT_TFRECORD ? " with embeddings" : "",
			       x.opt.format == AED_EXPORT_TFRECORD ? " and embed" : "");
		goto fail;
	}
	if ((rc = select_clips(&x, r)) || (rc = apply_keep(&x, r)) || (rc = assign_splits(&x)))
		goto fail;
	if (x.opt.mix_augment && (rc = make_mixes(&x)))
		goto fail;
	r->n_augmented = (int64_t)x.n_mix;
	if ((rc = plan_samples(&x, r)) || (rc = load_ancestors(&x)) ||
	    (rc = build_targets(&x, r)) || (rc = prepare_queries(&x)) ||
	    (rc = count_refined(&x, r)))
		goto fail;
	if ((rc = export_files(&x, NULL, 0, &files, &n_files, &files_buf)) ||
	    (rc = aed_outdir_begin(&od, files, n_files)))
		goto fail;
	if (x.opt.format == AED_EXPORT_TFRECORD &&
	    ((rc = fit_pca(&x)) || (rc = write_pca(&x, o->out_dir))))
		goto fail;
	double t0 = aed_now();
	if ((rc = write_shards(&x, o->out_dir, &si, &n_si, r)))
		goto fail;
	r->seconds = aed_now() - t0;
	if ((rc = write_index(&x, o->out_dir, si, n_si, index_sha)) || (rc = write_csvs(&x, o->out_dir)) ||
	    (rc = write_classes(&x, o->out_dir)) ||
	    (rc = write_manifest(&x, o->out_dir, r)) || (rc = write_readme(&x, o->out_dir, r)))
		goto fail;
	/* stale shards of the earlier export go, files it did not write stay */
	free(files);
	free(files_buf);
	files = NULL;
	files_buf = NULL;
	if ((rc = export_files(&x, si, n_si, &files, &n_files, &files_buf)) ||
	    (rc = aed_outdir_finish(&od, files, n_files)) ||
	    (rc = record_export(&x, o->out_dir, index_sha, r)))
		goto fail;
	rc = aed_run_end(db, run_id, AED_RUN_OK, (int64_t)x.n_smp, 0, NULL);
	goto out;
fail: {
	char msg[512];
	snprintf(msg, sizeof msg, "%s", aed_last_error());
	aed_run_end(db, run_id, AED_RUN_FAILED, 0, 0, msg);
	aed_error(rc, "%s", msg);
}
out:
	free(si);
	free(params);
	free(files);
	free(files_buf);
	aed_outdir_release(&od);
	ex_release(&x);
	return rc;
}
