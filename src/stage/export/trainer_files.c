/* trainer_files.c - the files beside the shards that a trainer and a reader
 * need: classes.json and pos_weight.npy (the targets' columns and loss
 * weights), class_counts.csv, priors.csv, manifest.json (parameters, counts,
 * runs, models, where each number came from) and README.md. The last files an
 * export writes, from the working set after the shards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/npy.h"
#include "stage/export/internal.h"

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int ex_write_csvs(struct ex *x, const char *dir)
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
void ex_keep_str(const struct ex *x, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (int k = 0; k < x->opt.n_keep; k++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s=%s", k ? "," : "", x->opt.keep[k].from,
			 x->opt.keep[k].to);
}

/* classes.json and pos_weight.npy: what a model head and its loss need. */
int ex_write_classes(struct ex *x, const char *dir)
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
	rc = ex_write_json_file(dir, "classes.json", j, NULL);
	json_decref(j);
	int64_t d[1] = { x->n_cols };
	snprintf(path, sizeof path, "%s/pos_weight.npy", dir);
	if (!rc)
		rc = aed_npy_write(path, AED_F32, 1, d, pw);
	free(pw);
	return rc;
}

/* manifest.json's classes: every class of the candidates, its counts and
 * why it stays below min where it does. */
static json_t *manifest_classes(const struct ex *x)
{
	json_t *classes = json_array();

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
	return classes;
}

/* manifest.json's runs (the successful runs of the stages the data came
 * from, by stage) and models. */
static int manifest_runs_models(struct ex *x, json_t *runs, json_t *models)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = aed_db_prepare(x->db,
				 "SELECT stage, group_concat(id) FROM (SELECT stage, id FROM run "
				 "WHERE outcome = 'ok' AND stage IN ('fetch','decode','features','embed',"
				 "'priors','refine') ORDER BY id) GROUP BY stage ORDER BY stage", &st)))
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(runs, (const char *)sqlite3_column_text(st, 0),
				    json_string((const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
	if ((rc = aed_db_prepare(x->db, "SELECT name, sha256, path FROM model ORDER BY id", &st)))
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(models, json_pack("{s:s, s:s, s:s}", "name",
							sqlite3_column_text(st, 0), "sha256",
							sqlite3_column_text(st, 1), "path",
							sqlite3_column_text(st, 2)));
	sqlite3_finalize(st);
	return AED_OK;
}

/* manifest.json's sources: where each number of the export came from, in
 * words. keep: the keep rules (ex_keep_str). */
static json_t *manifest_sources(const struct ex *x, const char *keep)
{
	char beta_src[96];

	if (x->opt.beta_set)
		snprintf(beta_src, sizeof beta_src, "beta %g (--beta)", x->opt.beta);
	else if (x->beta_run)
		snprintf(beta_src, sizeof beta_src, "beta %g, as the priors run %lld", x->opt.beta,
			 (long long)x->beta_run);
	else
		snprintf(beta_src, sizeof beta_src, "beta %g (no priors run: the default)", x->opt.beta);
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
	return src;
}

int ex_write_manifest(struct ex *x, const char *dir, const struct aed_export_result *r)
{
	char now[32];
	json_t *classes = manifest_classes(x), *runs = json_object(), *models = json_array();
	int rc;

	if ((rc = manifest_runs_models(x, runs, models)))
		goto out;
	aed_utc_iso8601(now);
	json_t *counts = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "candidates",
				   (json_int_t)r->n_candidates, "unlabelled", (json_int_t)r->n_unlabelled,
				   "selected", (json_int_t)r->n_selected, "augmented",
				   (json_int_t)r->n_augmented, "refined", (json_int_t)r->n_refined,
				   "classes", (json_int_t)r->n_classes, "classes_below_min",
				   (json_int_t)r->n_below_min, "classes_short_of_candidates",
				   (json_int_t)r->n_short);
	char keep[AED_EXPORT_MAX_KEEP * 70 + 8] = "";
	ex_keep_str(x, keep, sizeof keep);
	json_t *src = manifest_sources(x, keep);
	json_t *j = json_pack("{s:s, s:I, s:s, s:o, s:o, s:o, s:s, s:f, s:b, s:s, s:o, s:o, s:o}",
			      "created_at", now, "run_id", (json_int_t)r->run_id, "database",
			      aed_db_path(x->db), "params", ex_params_json(x), "counts", counts, "sources",
			      src, "keep_split", keep, "beta", x->opt.beta, "ancestors",
			      !x->opt.no_ancestors, "sample_weight",
			      "none: loss weights are pos_weight.npy (per column), negatives weigh 1",
			      "classes", classes, "runs", runs, "models", models);
	classes = runs = models = NULL;
	rc = ex_write_json_file(dir, "manifest.json", j, NULL);
	json_decref(j);
out:
	json_decref(classes);
	json_decref(runs);
	json_decref(models);
	return rc;
}

int ex_write_readme(struct ex *x, const char *dir, const struct aed_export_result *r)
{
	struct aed_buf b = { 0 };
	char path[4096], keep[AED_EXPORT_MAX_KEEP * 70 + 8];
	int rc;

	ex_keep_str(x, keep, sizeof keep);
	aed_buf_printf(&b, "# Training shards (%s)\n\n", ex_format_name(x->opt.format));
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
