/* export.c - `aedcurate export`: argv -> struct aed_export_opts -> the export
 * stage (src/stage/export/); prints what was written (text or --json). */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/export.h"
#include "aedcurate/store.h"
#include "cmd/commands.h"

/* The stage's options, and the options given as text until they are parsed
 * into it. */
struct export_cli {
	struct aed_export_opts s;
	const char *format, *balance, *split, *payload, *keep_split;
	double beta;             /* NAN: not given */
};

#define O(f) offsetof(struct export_cli, f)
static const struct aed_opt opts[] = {
	{ "out", 'o', AED_OPT_STR, O(s.out_dir), "DIR", "directory of the shards (created)" },
	{ "format", 'f', AED_OPT_STR, O(format), "FMT", "webdataset or tfrecord",
	  .def.s = "webdataset" },
	{ "balance", 'b', AED_OPT_STR, O(balance), "min=N,max=M", "per-class clip counts",
	  .def_note = "no cap, every labelled clip" },
	{ "split", 's', AED_OPT_STR, O(split), "NAME=F,...", "split fractions",
	  .def_note = "train=0.8,val=0.1,test=0.1" },
	{ "shard-size", 'n', AED_OPT_INT64, O(s.shard_size), "N", "samples per shard at most",
	  .def.i = AED_EXPORT_SHARD_SIZE_DEFAULT, AED_OPT_AT_LEAST(0) },
	{ "shards-per-split", 0, AED_OPT_INT64, O(s.shards_per_split), "N",
	  "at least N shards per split, where it has N samples",
	  .def.i = AED_EXPORT_SHARDS_PER_SPLIT_DEFAULT, AED_OPT_AT_LEAST(0) },
	{ "keep-split", 0, AED_OPT_STR, O(keep_split), "IN=OUT,...",
	  "clips ingested into split IN go to export split OUT, or none", .def_note = "eval=test" },
	{ "no-ancestors", 0, AED_OPT_FLAG, O(s.no_ancestors), NULL,
	  "labels.npy holds the stored labels only, not their ancestors" },
	{ "beta", 0, AED_OPT_DOUBLE, O(beta), "B", "pos_weight = (mean prior / prior)^B",
	  .def.d = NAN, .def_note = "the priors run's beta, else 1" },
	{ "payload", 'p', AED_OPT_STR, O(payload), "LIST",
	  "webdataset members besides .json: audio,logmel,embedding", .def_note = "audio" },
	{ "mix-augment", 0, AED_OPT_FLAG, O(s.mix_augment), NULL,
	  "add mixes of two same-class clips for classes below min" },
	{ "seed", 0, AED_OPT_UINT64, O(s.seed), "N", "selection, split, order and mixes",
	  .def.i = AED_EXPORT_SEED_DEFAULT },
	{ "mtime", 0, AED_OPT_INT64, O(s.mtime), "T", "tar member mtime, s since 1970",
	  AED_OPT_AT_LEAST(0) },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "export",
	.summary = "Write a class-balanced, split selection of the clips as training shards.",
	.details =
		"Selection: classes are served rarest first; each gets at least min clips and\n"
		"no clip is added once one of its classes has max (a clip counts for all its\n"
		"labels). Splits keep every source group (video, recording) whole and follow\n"
		"each class's fractions; all of it is seeded, so equal inputs and seed give\n"
		"byte-identical shards. Labels that annotators decided are absent (review\n"
		"import) are left out; the JSON lists them as negatives.\n"
		"Clips ingested into an evaluation split (AudioSet's eval list) go to test\n"
		"(--keep-split). Targets: classes.json's columns, a label's ontology ancestors\n"
		"set too; pos_weight.npy from this export's train split.\n"
		"webdataset: SPLIT-NNNNNN.tar with KEY.flac (16 kHz clip), KEY.json (labels,\n"
		"soft labels, refined frames, ingest splits, provenance), KEY.labels.npy\n"
		"(multi-hot target), KEY.soft.npy / KEY.mask.npy where refinement ran, and\n"
		"KEY.logmel.npy / KEY.embedding.npy on request; KEY = {ytid}_{start_ms}.\n"
		"tfrecord: SPLIT-NNNNNN.tfrecord of AudioSet-layout SequenceExamples with one\n"
		"128-byte PCA-quantised embedding per second (the PCA is fitted on the corpus\n"
		"and written beside the shards).\n"
		"Beside the shards: index.json (samples, bytes, sha256 per shard, brace\n"
		"patterns), SPLIT.wids.json, classes.json, pos_weight.npy, manifest.json,\n"
		"class_counts.csv, priors.csv and README.md. Recorded in tables export and\n"
		"export_sample.",
	.opts = opts,
	.max_args = 0,
};

int cmd_export(struct aed_ctx *ctx, int argc, char **argv)
{
	struct export_cli c = { 0 };
	struct aed_export_opts *o = &c.s;
	struct aed_export_result r;
	aed_export_opts_init(o);
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);

	if (rc)
		return rc;
	if (!o->out_dir)
		return aed_error(AED_EUSAGE, "export: --out DIR is required");
	if (!strcmp(c.format, "webdataset"))
		o->format = AED_EXPORT_WEBDATASET;
	else if (!strcmp(c.format, "tfrecord"))
		o->format = AED_EXPORT_TFRECORD;
	else
		return aed_error(AED_EUSAGE, "export: --format '%s': webdataset or tfrecord", c.format);
	if (c.balance && (rc = aed_export_parse_balance(c.balance, &o->min, &o->max)))
		return rc;
	if (c.split && (rc = aed_export_parse_splits(c.split, o)))
		return rc;
	if (c.payload && (rc = aed_export_parse_payload(c.payload, &o->payload)))
		return rc;
	if (c.keep_split && (rc = aed_export_parse_keep(c.keep_split, o)))
		return rc;
	if (!isnan(c.beta)) {
		o->beta_set = 1;
		o->beta = c.beta;
	}
	o->threads = ctx->g.threads;
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_export(ctx->db, o, &r)))
		return rc;
	double rate = r.seconds > 0 ? (double)(r.n_selected + r.n_augmented) / r.seconds : 0;
	if (ctx->g.json) {
		json_t *j = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
				      "run_id", (json_int_t)r.run_id, "out", o->out_dir, "candidates",
				      (json_int_t)r.n_candidates, "unlabelled", (json_int_t)r.n_unlabelled,
				      "selected", (json_int_t)r.n_selected, "augmented",
				      (json_int_t)r.n_augmented, "refined", (json_int_t)r.n_refined,
				      "classes", (json_int_t)r.n_classes, "classes_below_min",
				      (json_int_t)r.n_below_min, "classes_short", (json_int_t)r.n_short,
				      "shards", (json_int_t)r.n_shards, "bytes",
				      (json_int_t)r.bytes, "seconds", r.seconds, "samples_per_second", rate);
		json_t *sp = json_object(), *np = json_object();
		for (int i = 0; i < r.n_splits; i++) {
			json_object_set_new(sp, r.splits[i].name, json_integer(r.per_split[i]));
			json_object_set_new(np, r.splits[i].name, json_integer(r.no_positive[i]));
		}
		if (j) {
			json_object_set_new(j, "splits", sp);
			json_object_set_new(j, "columns", json_integer(r.n_columns));
			json_object_set_new(j, "kept_by_ingest_split", json_integer(r.n_kept));
			json_object_set_new(j, "columns_without_positive", np);
			json_object_set_new(j, "beta", json_real(r.beta));
		} else {
			json_decref(sp);
			json_decref(np);
		}
		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
			rc = aed_error(AED_EIO, "writing JSON to stdout failed");
		else
			fputc('\n', stdout);
		json_decref(j);
		return rc;
	}
	printf("export: %lld of %lld labelled clips selected (%lld unlabelled left out), %lld mixes, "
	       "%lld with refinement results\n",
	       (long long)r.n_selected, (long long)r.n_candidates, (long long)r.n_unlabelled,
	       (long long)r.n_augmented, (long long)r.n_refined);
	printf("classes: %lld, below min: %lld (%lld of them with fewer candidates than min); "
	       "samples per split:", (long long)r.n_classes, (long long)r.n_below_min,
	       (long long)r.n_short);
	for (int i = 0; i < r.n_splits; i++)
		printf(" %s %lld", r.splits[i].name, (long long)r.per_split[i]);
	printf("\n");
	printf("targets: %lld columns (classes.json), %s; pos_weight.npy from split %s, beta %g; "
	       "%lld clips placed by their ingest split\n", (long long)r.n_columns,
	       o->no_ancestors ? "stored labels only" : "ancestors set", r.splits[0].name, r.beta,
	       (long long)r.n_kept);
	printf("wrote %lld shards, %lld bytes to %s in %.2f s (%.1f samples/s)\n", (long long)r.n_shards,
	       (long long)r.bytes, o->out_dir, r.seconds, rate);
	/* a split without a positive of a class cannot measure it: say so */
	for (int i = 1; i < r.n_splits; i++)
		if (r.no_positive[i])
			aed_warn("export: %lld of %lld classes have no positive in %s (%s%s)",
				 (long long)r.no_positive[i], (long long)r.n_columns, r.splits[i].name,
				 r.no_positive_names[i], r.no_positive[i] > 6 ? "; ..." : "");
	return AED_OK;
}
