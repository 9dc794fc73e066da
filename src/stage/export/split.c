/* split.c - which split each selected clip goes to: a clip ingested into a
 * split named by --keep-split goes where the rule says; every other source
 * group goes whole to one split, stratified by its rarest class. After
 * select.c, before mix.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "stage/export/internal.h"

struct grp {
	int first, n;      /* into the group-sorted index array */
	int keep;          /* split a member's ingest split sends the group to, -1: free */
	int rarest;        /* class index with the fewest selected clips */
	uint64_t h;
};

static int cmp_seg_group(const void *a, const void *b)
{
	const struct xseg *x = &ex_sort_ctx->seg[*(const int *)a], *y = &ex_sort_ctx->seg[*(const int *)b];
	int c = strcmp(x->group, y->group);
	return c ? c : strcmp(x->key, y->key);
}

static int cmp_grp(const void *a, const void *b)
{
	const struct grp *x = a, *y = b;
	const struct xclass *cx = &ex_sort_ctx->cls[x->rarest], *cy = &ex_sort_ctx->cls[y->rarest];
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
int ex_assign_splits(struct ex *x)
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
	ex_sort_ctx = x;
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
		gr->h = ex_hash_str(x->opt.seed, "split", x->seg[idx[i]].group);
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
int ex_apply_keep(struct ex *x, struct aed_export_result *r)
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
