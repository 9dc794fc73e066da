/* select.c - which clips an export takes: every class gets at least min and
 * at most max clips where the corpus allows, rarest classes served first, a
 * clip counting for all its labels. After load.c, before split.c. */
#include <stdlib.h>

#include "aedcurate/error.h"
#include "stage/export/internal.h"

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

int ex_select_clips(struct ex *x, struct aed_export_result *r)
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
