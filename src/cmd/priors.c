/* priors.c - `aedcurate priors`: argv to options, then the priors stage
 * (src/stage/priors.c), and its table or --json rendering. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "cmd/commands.h"

#define O(f) offsetof(struct aed_priors_opts, f)
static const struct aed_opt priors_table[] = {
	{ "beta", 'b', AED_OPT_DOUBLE, O(beta), "B",
	  "weight exponent: 1 balances fully, smaller backs off, 0 weighs all 1",
	  .def.d = AED_PRIORS_BETA_DEFAULT, AED_OPT_AT_LEAST(0) },
	{ "split", 's', AED_OPT_STR, O(split), "NAME", "count only this split's segments",
	  .def_note = "every labelled segment" },
	{ "out", 'o', AED_OPT_STR, O(out_dir), "DIR", "also write DIR/priors.csv and DIR/priors.json" },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec priors_spec = {
	.name = "priors",
	.summary = "Class priors and the loss weights of their positive examples.",
	.details =
		"prior_c = labelled segments carrying class c or any of its descendants (labels\n"
		"of any source, through the ontology closure) / labelled segments.\n"
		"w_c = (mean prior / prior_c)^beta for positives; negatives weigh 1. The mean is\n"
		"taken over the classes with a non-zero prior. Stored in table class_prior\n"
		"(replacing the previous run's rows); priors.csv / priors.json are keyed by mid\n"
		"and by class_labels_indices index.",
	.opts = priors_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_priors(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_priors_opts po;
	struct aed_priors_result r = { 0 };
	int nargs, rc;

	aed_priors_opts_init(&po);
	if ((rc = aed_parse(ctx, &priors_spec, argc, argv, &po, &nargs)))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_priors(ctx->db, &po, &r)))
		return rc;
	double lo = INFINITY, hi = 0, wlo = INFINITY, whi = 0;
	for (size_t i = 0; i < r.n_classes; i++) {
		const struct aed_class_prior *c = &r.classes[i];
		if (c->prior <= 0)
			continue;
		lo = fmin(lo, c->prior);
		hi = fmax(hi, c->prior);
		wlo = fmin(wlo, c->weight);
		whi = fmax(whi, c->weight);
	}
	if (ctx->g.json) {
		json_t *j = json_pack("{s:I, s:f, s:I, s:f, s:I, s:[]}", "run_id",
				      (json_int_t)r.run_id, "beta", r.beta, "n_total",
				      (json_int_t)r.n_total, "mean_prior", r.mean_prior,
				      "classes_nonzero", (json_int_t)r.n_nonzero, "classes");
		json_t *a = j ? json_object_get(j, "classes") : NULL;
		for (size_t i = 0; a && i < r.n_classes; i++) {
			const struct aed_class_prior *c = &r.classes[i];
			json_t *e = json_pack("{s:o, s:s, s:s, s:I, s:f, s:f}", "index",
					      c->label_index >= 0 ? json_integer(c->label_index) : json_null(),
					      "mid", c->mid, "name", c->name, "n_pos", (json_int_t)c->n_pos,
					      "prior", c->prior, "weight", c->weight);
			json_array_append_new(a, e);
		}
		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
			rc = aed_error(AED_EIO, "writing JSON to stdout failed");
		else
			fputc('\n', stdout);
		json_decref(j);
		aed_priors_result_release(&r);
		return rc;
	}
	printf("priors: %lld labelled segments, %zu classes (%zu with positives), beta %g\n",
	       (long long)r.n_total, r.n_classes, r.n_nonzero, r.beta);
	if (r.n_nonzero)
		printf("mean prior %.6g; prior %.6g .. %.6g; positive weight %.6g .. %.6g\n",
		       r.mean_prior, lo, hi, wlo, whi);
	printf("%5s  %-12s %8s %10s %12s  %s\n", "index", "mid", "n_pos", "prior", "weight", "name");
	for (size_t i = 0; i < r.n_classes; i++) {
		const struct aed_class_prior *c = &r.classes[i];
		char idx[24] = "-";
		if (c->label_index >= 0)
			snprintf(idx, sizeof idx, "%ld", c->label_index);
		printf("%5s  %-12s %8lld %10.6f %12.6g  %s\n", idx, c->mid, (long long)c->n_pos,
		       c->prior, c->weight, c->name);
	}
	if (po.out_dir)
		printf("wrote %s/priors.csv and %s/priors.json\n", po.out_dir, po.out_dir);
	aed_priors_result_release(&r);
	return AED_OK;
}
