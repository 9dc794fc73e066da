/* review.c - `aedcurate review export|import|status`: argv to options, the
 * review stage (src/stage/review/), and the human or --json rendering. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/class.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "cmd/commands.h"

static int print_json(json_t *j)
{
	if (!j)
		return aed_error(AED_ENOMEM, "out of memory building JSON");
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		return aed_error(AED_EIO, "writing JSON to stdout failed");
	fputc('\n', stdout);
	return AED_OK;
}

/* Names come from ontology files: control bytes are shown as \xNN. */
static void put_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

/* --- export ---------------------------------------------------------------- */

#define O(f) offsetof(struct aed_review_export_opts, f)
static const struct aed_opt export_table[] = {
	{ "class", 'c', AED_OPT_STR, O(class_name), "NAME|MID",
	  "the latest mine run of this class (name or mid, any case)" },
	{ "run", 'r', AED_OPT_INT64, O(mine_run_id), "ID",
	  "this mine run (the id `review status` lists)", AED_OPT_AT_LEAST(0), .def_note = "none" },
	{ "out", 'o', AED_OPT_STR, O(out_dir), "DIR", "folder to write the page into (created)" },
	{ "limit", 'n', AED_OPT_LONG, O(limit), "N", "the N best-ranked candidates",
	  .def.i = AED_REVIEW_EXPORT_LIMIT_DEFAULT, AED_OPT_AT_LEAST(0) },
	{ "unrated", 'u', AED_OPT_FLAG, O(unrated), NULL,
	  "only candidates no import has decided yet" },
	{ "web", 0, AED_OPT_STR, O(web_dir), "DIR", "page sources",
	  .def_note = "$AEDCURATE_WEB, else web/review of the install" },
	{ "bitrate", 0, AED_OPT_INT, O(bitrate), "BPS", "Opus bit rate of the context clips",
	  .def.i = AED_REVIEW_EXPORT_BITRATE_DEFAULT, AED_OPT_RANGE(0, 512000) },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec export_spec = {
	.name = "review export",
	.summary = "Write a static review page for a mine run's candidates.",
	.details = "The folder works opened straight from disk (file://) or from any static\n"
		   "server: index.html, the candidates in candidates.js, and per candidate a\n"
		   "10 s context clip (Ogg Opus) and its log-mel image with the mined best\n"
		   "0.96 s patch marked. Annotators rate with P/N/U/A, add missing labels, and\n"
		   "export a ratings JSON file for `aedcurate review import`.",
	.opts = export_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_review_export(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_review_export_opts eo;
	struct aed_review_export_result r;
	int nargs = 0, rc;

	aed_review_export_opts_init(&eo);
	if ((rc = aed_parse(ctx, &export_spec, argc, argv, &eo, &nargs)))
		return rc;
	if (!eo.out_dir)
		return aed_error(AED_EUSAGE, "review export: --out DIR is required");
	if (!eo.class_name == !eo.mine_run_id)
		return aed_error(AED_EUSAGE, "review export: give one of --class NAME|MID or --run ID");
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_review_export(ctx->db, &eo, &r)))
		return rc;
	if (ctx->g.json) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I}",
				      "out", eo.out_dir, "index", "index.html",
				      "mine_run", (json_int_t)r.mine_run_id, "class", r.mid,
				      "candidates", (json_int_t)r.n_candidates,
				      "export_id", r.export_id, "checksum", r.checksum,
				      "run_id", (json_int_t)r.run_id);
		rc = print_json(j);
		json_decref(j);
		return rc;
	}
	printf("exported %lld candidates of mine run %lld (%s) to %s/index.html\n",
	       (long long)r.n_candidates, (long long)r.mine_run_id, r.mid, eo.out_dir);
	printf("export id %s, checksum %s\n", r.export_id, r.checksum);
	return AED_OK;
}

/* --- import ---------------------------------------------------------------- */

static const struct aed_cmd_spec import_spec = {
	.name = "review import",
	.args = "FILE...",
	.summary = "Import ratings files exported from review pages.",
	.details = "Each file must come from an export of this database (export id and\n"
		   "checksum); entries naming unknown candidates or mids, malformed entries,\n"
		   "candidates rated twice and a Not present answer that also adds the class\n"
		   "judged as a label are rejected with a reason, and the rest are stored.\n"
		   "Each candidate's decision is the majority answer over all annotators (a tie\n"
		   "is unsure); present decisions become labels (source verified), not present\n"
		   "ones hard negatives. Labels added on the page (\"Add missing labels\") become\n"
		   "labels of the clip (source review; who added them: the review_label view),\n"
		   "which export writes and mine takes as verified exemplars. Importing a file\n"
		   "again changes nothing. Exits 1 when anything was rejected.",
	.min_args = 1,
	.max_args = -1,
};

int cmd_review_import(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_review_import_result r = { 0 };
	int nargs = 0, rc;
	size_t i;

	if ((rc = aed_parse(ctx, &import_spec, argc, argv, NULL, &nargs)) ||
	    (rc = aed_ctx_open_db(ctx, 0)))
		return rc;
	rc = aed_review_import(ctx->db, (const char *const *)argv, (size_t)nargs, &r);
	for (i = 0; i < r.n_messages; i++) {
		fputs("rejected: ", stderr);
		put_text(stderr, r.messages[i]);
		fputc('\n', stderr);
	}
	if (rc)
		goto out;
	if (ctx->g.json) {
		json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, "
				      "s:I}",
				      "files", (json_int_t)r.files,
				      "files_rejected", (json_int_t)r.files_rejected,
				      "entries", (json_int_t)r.entries,
				      "new", (json_int_t)r.new_ratings,
				      "updated", (json_int_t)r.updated,
				      "same", (json_int_t)r.same, "older", (json_int_t)r.older,
				      "rejected", (json_int_t)r.bad,
				      "decisions", (json_int_t)r.decisions,
				      "multi_rated", (json_int_t)r.multi_rated,
				      "mean_agreement", r.mean_agreement, "ties", (json_int_t)r.ties,
				      "labels_added", (json_int_t)r.labels_added);
		json_t *msgs = json_array();

		for (i = 0; j && msgs && i < r.n_messages; i++)
			json_array_append_new(msgs, json_string(r.messages[i]));
		if (j && msgs)
			json_object_set(j, "rejections", msgs);
		json_decref(msgs);
		rc = print_json(j);
		json_decref(j);
		if (rc)
			goto out;
	} else {
		printf("%lld file%s, %lld entries: %lld new, %lld updated, %lld unchanged, "
		       "%lld older than stored, %lld rejected\n", (long long)r.files,
		       r.files == 1 ? "" : "s", (long long)r.entries, (long long)r.new_ratings,
		       (long long)r.updated, (long long)r.same, (long long)r.older, (long long)r.bad);
		if (r.decisions)
			printf("%lld decisions updated (%lld verified present); %lld candidates with "
			       "several annotators, mean agreement %.2f, %lld ties\n",
			       (long long)r.decisions, (long long)r.labels_verified,
			       (long long)r.multi_rated, r.mean_agreement, (long long)r.ties);
		if (r.labels_added)
			printf("%lld label%s added by annotators (source review)\n",
			       (long long)r.labels_added, r.labels_added == 1 ? "" : "s");
	}
	if (r.files_rejected || r.bad) {
		char files[64] = "";

		if (r.files_rejected)
			snprintf(files, sizeof files, "; %lld file%s rejected whole",
				 (long long)r.files_rejected, r.files_rejected == 1 ? "" : "s");
		rc = aed_error(AED_EFORMAT, "%lld of %lld entries rejected%s", (long long)r.bad,
			       (long long)r.entries, files);
	}
out:
	aed_review_import_result_release(&r);
	return rc;
}

/* --- status ---------------------------------------------------------------- */

struct status_opts {
	const char *class_name;
};

static const struct aed_opt status_table[] = {
	{ "class", 'c', AED_OPT_STR, offsetof(struct status_opts, class_name), "NAME|MID",
	  "only the runs of this class (name or mid, any case)" },
	{ 0 }
};

static const struct aed_cmd_spec status_spec = {
	.name = "review status",
	.summary = "Per mine run: candidates rated and the decisions so far.",
	.details = "precision = present / (rated - unsure): not acoustic counts against it.\n"
		   "agreement: mean share of annotators agreeing with the decision, over the\n"
		   "candidates rated by several.",
	.opts = status_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_review_status(struct aed_ctx *ctx, int argc, char **argv)
{
	struct status_opts o = { 0 };
	struct aed_review_status s = { 0 };
	int64_t class_id = 0;
	int nargs = 0, rc;
	size_t i;

	if ((rc = aed_parse(ctx, &status_spec, argc, argv, &o, &nargs)) ||
	    (rc = aed_ctx_open_db(ctx, AED_DB_READONLY)))
		return rc;
	if (o.class_name && (rc = aed_class_resolve(ctx->db, o.class_name, &class_id)))
		return rc;
	if ((rc = aed_review_status_get(ctx->db, class_id, &s)))
		return rc;
	if (ctx->g.json) {
		json_t *arr = json_array();

		for (i = 0; i < s.n; i++) {
			const struct aed_review_run_status *x = &s.runs[i];

			json_array_append_new(arr, json_pack(
				"{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
				"mine_run", (json_int_t)x->mine_run_id, "mid", x->mid, "name", x->name,
				"candidates", (json_int_t)x->candidates, "rated", (json_int_t)x->rated,
				"present", (json_int_t)x->by_decision[AED_ANSWER_PRESENT],
				"not_present", (json_int_t)x->by_decision[AED_ANSWER_NOT_PRESENT],
				"unsure", (json_int_t)x->by_decision[AED_ANSWER_UNSURE],
				"not_acoustic", (json_int_t)x->by_decision[AED_ANSWER_NOT_ACOUSTIC],
				"ratings", (json_int_t)x->ratings,
				"precision", x->precision < 0 ? json_null() : json_real(x->precision),
				"agreement", x->mean_agreement < 0 ? json_null()
								   : json_real(x->mean_agreement)));
		}
		rc = print_json(arr);
		json_decref(arr);
		goto out;
	}
	if (s.n == 0) {
		printf("no mine runs%s\n", o.class_name ? " for this class" : "");
		goto out;
	}
	printf("%-5s %-12s %-24s %6s %6s %7s %7s %6s %7s %9s %9s\n", "run", "mid", "class",
	       "cands", "rated", "present", "not_pr", "unsure", "not_ac", "precision", "agreement");
	for (i = 0; i < s.n; i++) {
		const struct aed_review_run_status *x = &s.runs[i];
		char name[25], prec[16], agr[16];
		size_t k;

		/* A name cut to the column, control bytes shown as '?'. */
		for (k = 0; k < sizeof name - 1 && x->name[k]; k++)
			name[k] = ((unsigned char)x->name[k] < 0x20 || x->name[k] == 0x7f)
					  ? '?' : x->name[k];
		while (k > 0 && x->name[k] && ((unsigned char)x->name[k] & 0xc0) == 0x80)
			k--; /* not in the middle of a UTF-8 sequence */
		name[k] = 0;
		snprintf(prec, sizeof prec, "%.3f", x->precision);
		snprintf(agr, sizeof agr, "%.3f", x->mean_agreement);
		if (x->precision < 0)
			strcpy(prec, "-");
		if (x->mean_agreement < 0)
			strcpy(agr, "-");
		printf("%-5lld %-12s %-24s %6lld %6lld %7lld %7lld %6lld %7lld %9s %9s\n",
		       (long long)x->mine_run_id, x->mid, name, (long long)x->candidates,
		       (long long)x->rated, (long long)x->by_decision[AED_ANSWER_PRESENT],
		       (long long)x->by_decision[AED_ANSWER_NOT_PRESENT],
		       (long long)x->by_decision[AED_ANSWER_UNSURE],
		       (long long)x->by_decision[AED_ANSWER_NOT_ACOUSTIC], prec, agr);
	}
out:
	aed_review_status_release(&s);
	return rc;
}
