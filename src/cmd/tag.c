/* tag.c - `aedcurate tag FILE|SEGMENT`: the top AudioSet classes over time,
 * with display names and mids - the quick look a user takes before trusting
 * a model. A file is decoded and run through the network by the YAMNet
 * patch runner (nn.h); a segment uses its stored scores, or runs the
 * network on its stored log-mel. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/audio.h"
#include "aedcurate/cli.h"
#include "aedcurate/embed.h"
#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/nn.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

struct tag_cli {
	const char *model;
	int top, batch;
};

#define O(f) offsetof(struct tag_cli, f)
static const struct aed_opt opts[] = {
	{ "top", 'k', AED_OPT_INT, O(top), "K", "classes per patch and for the clip", .def.i = 5,
	  AED_OPT_RANGE(1, AED_YAMNET_CLASSES) },
	{ "model", 'm', AED_OPT_STR, O(model), "PATH", "YAMNet TFLite file", .def_note = "as embed" },
	{ "batch", 'b', AED_OPT_INT, O(batch), "N", "patches per network batch",
	  .def.i = AED_EMBED_BATCH_DEFAULT, AED_OPT_RANGE(1, 4096) },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "tag",
	.args = "FILE|SEGMENT",
	.summary = "Top AudioSet classes of an audio file or a stored segment, patch by patch.",
	.details =
		"FILE is decoded (16 kHz mono), turned into log-mel patches and run through\n"
		"YAMNet. SEGMENT (YTID_STARTMS, id, or a manifest path) uses the scores that\n"
		"`embed` stored, or its stored log-mel. Prints, per 0.96 s patch every 0.48 s,\n"
		"the top K classes (score, display name, mid), then the clip's top K by the\n"
		"maximum over patches.",
	.opts = opts,
	.min_args = 1,
	.max_args = 1,
};

/* Run the network over n patches: scores [n][521]. */
static int run_net(const struct aed_yamnet *y, const float *patches, size_t n, int batch,
		   int threads, float **scores)
{
	struct aed_yamnet_runner rn;
	int rc;

	*scores = malloc((n ? n : 1) * AED_YAMNET_CLASSES * sizeof **scores);
	if (!*scores)
		return aed_error(AED_ENOMEM, "out of memory for %zu patches", n);
	if (!(rc = aed_yamnet_runner_init(&rn, y, aed_nn_backend(NULL), batch, threads)))
		rc = aed_yamnet_runner_run(&rn, patches, n, NULL, *scores);
	aed_yamnet_runner_release(&rn);
	if (rc) {
		free(*scores);
		*scores = NULL;
	}
	return rc;
}

/* Indices of the k largest of v[0..n) in descending order (ties: lower index). */
static void top_k(const float *v, int n, int k, int *idx)
{
	for (int j = 0; j < k; j++)
		idx[j] = -1;
	for (int i = 0; i < n; i++) {
		int pos = k;
		while (pos > 0 && (idx[pos - 1] < 0 || v[i] > v[idx[pos - 1]]))
			pos--;
		if (pos >= k)
			continue;
		memmove(idx + pos + 1, idx + pos, (size_t)(k - pos - 1) * sizeof *idx);
		idx[pos] = i;
	}
}

static json_t *top_json(const struct aed_yamnet *y, const float *v, const int *idx, int k)
{
	json_t *a = json_array();
	for (int j = 0; j < k; j++)
		json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:f}", "index", idx[j], "mid",
						   y->class_mid[idx[j]], "name",
						   y->class_name[idx[j]], "score", (double)v[idx[j]]));
	return a;
}

static void print_result(struct aed_ctx *ctx, const struct aed_yamnet *y, const char *source,
			 const float *scores, size_t n, int k)
{
	int *idx = malloc((size_t)k * sizeof *idx);
	float *clip = calloc(AED_YAMNET_CLASSES, sizeof *clip);
	json_t *root = NULL, *pj = NULL;

	if (!idx || !clip)
		goto out;
	for (size_t p = 0; p < n; p++)
		for (int c = 0; c < AED_YAMNET_CLASSES; c++)
			if (scores[p * AED_YAMNET_CLASSES + c] > clip[c])
				clip[c] = scores[p * AED_YAMNET_CLASSES + c];
	if (ctx->g.json) {
		root = json_pack("{s:s, s:{s:s, s:s}, s:f, s:f}", "source", source, "model", "name",
				 y->name, "sha256", y->sha256, "patch_seconds",
				 AED_PATCH_LEN_S, "hop_seconds", AED_PATCH_HOP_S);
		pj = json_array();
	} else {
		printf("%s: %zu patches (%.2f s every %.2f s), model %s sha256 %.16s...\n", source, n,
		       AED_PATCH_LEN_S, AED_PATCH_HOP_S, y->name, y->sha256);
		printf("  start    end  top %d: score class (mid)\n", k);
	}
	for (size_t p = 0; p < n; p++) {
		const float *s = scores + p * AED_YAMNET_CLASSES;
		top_k(s, AED_YAMNET_CLASSES, k, idx);
		if (pj) {
			json_t *o = json_pack("{s:f, s:f}", "start_s", p * AED_PATCH_HOP_S, "end_s",
					      p * AED_PATCH_HOP_S + AED_PATCH_LEN_S);
			json_object_set_new(o, "top", top_json(y, s, idx, k));
			json_array_append_new(pj, o);
			continue;
		}
		printf("%7.2f %6.2f ", p * AED_PATCH_HOP_S, p * AED_PATCH_HOP_S + AED_PATCH_LEN_S);
		for (int j = 0; j < k; j++)
			printf(" %s%.3f %s (%s)", j ? "| " : "", s[idx[j]], y->class_name[idx[j]],
			       y->class_mid[idx[j]]);
		printf("\n");
	}
	top_k(clip, AED_YAMNET_CLASSES, k, idx);
	if (root) {
		json_object_set_new(root, "patches", pj);
		json_object_set_new(root, "clip", top_json(y, clip, idx, k));
		json_dumpf(root, stdout, JSON_INDENT(1));
		printf("\n");
	} else {
		printf("clip (max over patches):\n");
		for (int j = 0; j < k; j++)
			printf("  %d. %.4f  %-40s %s\n", j + 1, clip[idx[j]], y->class_name[idx[j]],
			       y->class_mid[idx[j]]);
	}
out:
	json_decref(root);
	free(idx);
	free(clip);
}

/* The stored scores of a segment, and the model they were made with. */
static int segment_scores(struct aed_db *db, int64_t id, float **scores, size_t *n,
			  char **model_path, char sha[65])
{
	struct aed_array a = { 0 };
	sqlite3_stmt *st = NULL;
	int rc = aed_array_get(db, "scores", id, &a);
	if (rc)
		return rc;
	if (a.dtype != AED_F32 || a.dims[1] != AED_YAMNET_CLASSES) {
		aed_array_release(&a);
		return aed_error(AED_EFORMAT, "segment %lld: stored scores are not f32 [n,521]",
				 (long long)id);
	}
	*scores = a.data;
	*n = (size_t)a.dims[0];
	if ((rc = aed_db_prepare(db, "SELECT m.path, m.sha256 FROM embedding e JOIN model m ON "
				     "m.id = e.model_id WHERE e.segment_id = ?1", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*model_path = strdup((const char *)sqlite3_column_text(st, 0));
		snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return AED_OK;
}

int cmd_tag(struct aed_ctx *ctx, int argc, char **argv)
{
	struct tag_cli c = { 0 };
	struct aed_yamnet *y = NULL;
	float *lm = NULL, *patches = NULL, *scores = NULL;
	size_t frames = 0, np = 0;
	char *model_path = NULL, *map_path = NULL, stored_sha[65] = "";
	int nargs = 0, rc;

	if ((rc = aed_parse(ctx, &spec, argc, argv, &c, &nargs)))
		return rc;
	const char *what = argv[0];

	if (access(what, R_OK) == 0) {
		/* Padded as the pipeline pads a stored clip (pad 1). */
		if ((rc = aed_yamnet_file_logmel(what, 1, &lm, &frames, NULL)) ||
		    (rc = aed_yamnet_patches(lm, frames, &patches, &np)))
			goto out;
	} else {
		int64_t id;
		if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)))
			goto out;
		if ((rc = aed_segment_lookup(ctx->db, what, &id)))
			goto out;
		rc = segment_scores(ctx->db, id, &scores, &np, &model_path, stored_sha);
		if (rc == AED_ENOTFOUND) {
			struct aed_array a = { 0 };
			rc = aed_array_get(ctx->db, aed_logmel_kind(AED_PRESET_YAMNET), id, &a);
			if (rc == AED_ENOTFOUND)
				rc = aed_error(AED_ENOTFOUND, "segment %s has neither scores nor log-mel "
					       "patches yet: run `aedcurate features` and `aedcurate embed`",
					       what);
			if (!rc && (a.dtype != AED_F32 || a.dims[1] != AED_YAMNET_MEL_BANDS))
				rc = aed_error(AED_EFORMAT, "segment %s: log-mel array is not f32 [n,64]",
					       what);
			if (!rc)
				rc = aed_yamnet_patches(a.data, (size_t)a.dims[0], &patches, &np);
			aed_array_release(&a);
		}
		if (rc)
			goto out;
	}

	/* Stored scores name the model that made them; use its class map. */
	if (scores && model_path && !c.model && access(model_path, R_OK) == 0) {
		if ((rc = aed_yamnet_load(model_path, &y)))
			goto out;
	} else {
		char *p = NULL;
		if ((rc = aed_yamnet_find_model(c.model, &p)))
			goto out;
		rc = aed_yamnet_load(p, &y);
		free(p);
		if (rc)
			goto out;
	}
	if (scores && stored_sha[0] && strcmp(stored_sha, y->sha256) != 0)
		aed_warn("tag: the stored scores of %s were made with model sha256 %.16s..., "
			 "not %.16s...", what, stored_sha, y->sha256);
	if ((rc = aed_yamnet_find_class_map(y->path, &map_path)) ||
	    (rc = aed_yamnet_load_class_map(y, map_path)))
		goto out;
	if (!scores && (rc = run_net(y, patches, np, c.batch, ctx->g.threads, &scores)))
		goto out;
	print_result(ctx, y, what, scores, np, c.top);
out:
	aed_yamnet_free(&y);
	free(lm);
	free(patches);
	free(scores);
	free(model_path);
	free(map_path);
	return rc;
}
