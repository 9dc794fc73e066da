/* index.c - `aedcurate index build|status`: argv to options, then the index
 * stage (src/stage/index.c), and the human or --json report. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/search.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

static int print_json(json_t *j)
{
	if (!j)
		return aed_error(AED_ENOMEM, "out of memory building JSON");
	int bad = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (bad)
		return aed_error(AED_EIO, "writing JSON to stdout failed");
	fputc('\n', stdout);
	return AED_OK;
}

#define O(f) offsetof(struct aed_index_build_opts, f)
static const struct aed_opt build_table[] = {
	{ "model", 'm', AED_OPT_STR, O(model), "NAME", "index the embeddings of this model",
	  .def_note = "the model most segments use" },
	{ "factory", 'f', AED_OPT_STR, O(factory), "STRING",
	  "FAISS index_factory string, or auto: Flat (exact) below --exact-below vectors, else PCA256,IVF<~sqrt(n)>,SQ8 (264 bytes a vector, hits re-ranked exactly); an existing index keeps its own, but an exact one whose corpus grew past the threshold is rebuilt compressed",
	  .def.s = AED_INDEX_FACTORY_DEFAULT },
	{ "exact-below", 0, AED_OPT_INT64, O(exact_max), "N",
	  "with auto: vectors from which the index is compressed", AED_OPT_AT_LEAST(0),
	  .def_note = CMD_STR(AED_VINDEX_AUTO_EXACT_MAX) ", and an existing index keeps its factory unless exact and outgrown" },
	{ "path", 'o', AED_OPT_STR, O(path), "FILE", "where the index file goes",
	  .def_note = "<db>.index/<model>-<sha8>.faiss" },
	{ "nprobe", 0, AED_OPT_INT, O(nprobe), "N", "IVF lists searched per query",
	  AED_OPT_AT_LEAST(0), .def_note = "nlist/64, at least 8" },
	{ "rebuild", 0, AED_OPT_FLAG, O(rebuild), NULL,
	  "build from scratch instead of adding the new segments (same factory, unless auto moves an outgrown exact index to a compressed one)" },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec build_spec = {
	.name = "index build",
	.args = "",
	.summary = "Build or extend the FAISS index over the patch embeddings.",
	.details = "Every patch embedding (0.96 s every 0.48 s) of one model is L2-normalised and\n"
		   "added to a FAISS index: exact below --exact-below vectors, else compressed\n"
		   "(PCA to 256 dimensions, IVF, 8-bit codes), whose hits mine re-ranks against\n"
		   "the stored embeddings so that its scores stay exact cosine similarities. The\n"
		   "vector id -> (segment, patch) map is kept in the database (vec_map,\n"
		   "vec_segment). Run it again after embedding more clips: only the new ones are\n"
		   "added. It starts over by itself when the index is stale: a segment was\n"
		   "re-embedded, the file is missing or disagrees with the database, or the\n"
		   "corpus outgrew an exact index under --factory auto.",
	.opts = build_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_index_build(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_index_build_opts bo;
	struct aed_index_build_result r;
	int nargs = 0, rc;

	aed_index_build_opts_init(&bo);
	if ((rc = aed_parse(ctx, &build_spec, argc, argv, &bo, &nargs)))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_index_build(ctx->db, &bo, &r)))
		return rc;
	if (ctx->g.json)
		return print_json(json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:s, s:f}",
					    "index_id", (json_int_t)r.index_id, "path", r.path,
					    "factory", r.factory, "model_sha256", r.model_sha256,
					    "vectors", (json_int_t)r.n_vectors,
					    "segments", (json_int_t)r.n_segments,
					    "added_vectors", (json_int_t)r.added_vectors,
					    "added_segments", (json_int_t)r.added_segments,
					    "rebuilt", r.rebuilt, "rebuild_reason", r.rebuild_reason,
					    "seconds", r.seconds));
	if (r.rebuilt)
		printf("index %lld: built %s (%s) over %lld vectors of %lld segments in %.1f s "
		       "(%s)\n", (long long)r.index_id, r.path, r.factory, (long long)r.n_vectors,
		       (long long)r.n_segments, r.seconds, r.rebuild_reason);
	else if (r.added_segments)
		printf("index %lld: added %lld vectors of %lld new segments to %s (%s); %lld "
		       "vectors of %lld segments in all (%.1f s)\n", (long long)r.index_id,
		       (long long)r.added_vectors, (long long)r.added_segments, r.path, r.factory,
		       (long long)r.n_vectors, (long long)r.n_segments, r.seconds);
	else
		printf("index %lld: up to date, %lld vectors of %lld segments (%s, %s)\n",
		       (long long)r.index_id, (long long)r.n_vectors, (long long)r.n_segments,
		       r.factory, r.path);
	return AED_OK;
}

struct status_opts {
	const char *model;
};

static const struct aed_opt status_table[] = {
	{ "model", 'm', AED_OPT_STR, offsetof(struct status_opts, model), "NAME",
	  "the index of this model (default: the model most segments use)" },
	{ 0 }
};

static const struct aed_cmd_spec status_spec = {
	.name = "index status",
	.args = "",
	.summary = "Say whether the vector index is current, stale or missing.",
	.details = "Exits non-zero with the reason when the index cannot be searched as it is\n"
		   "(another model's, a re-embedded segment, a missing file).",
	.opts = status_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_index_status(struct aed_ctx *ctx, int argc, char **argv)
{
	struct status_opts o = { 0 };
	struct aed_index_status s;
	int nargs = 0, rc;

	if ((rc = aed_parse(ctx, &status_spec, argc, argv, &o, &nargs)))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)) ||
	    (rc = aed_index_status(ctx->db, o.model, &s)))
		return rc;
	/* Memory a vector costs: the file is what a search maps (IVF lists) or
	 * reads (the rest), so its size over the vectors is the figure. */
	struct stat sb;
	int64_t bytes = stat(s.path, &sb) ? 0 : (int64_t)sb.st_size;
	double per = s.n_vectors ? (double)bytes / s.n_vectors : 0;
	if (ctx->g.json)
		return print_json(json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:s, "
					    "s:I, s:f, s:b}",
					    "index_id", (json_int_t)s.index_id, "path", s.path,
					    "factory", s.factory, "model", s.model_name,
					    "model_sha256", s.model_sha256,
					    "vectors", (json_int_t)s.n_vectors,
					    "segments", (json_int_t)s.n_segments,
					    "pending_segments", (json_int_t)s.pending_segments,
					    "nprobe", s.nprobe, "created_at", s.created_at,
					    "updated_at", s.updated_at, "file_bytes", (json_int_t)bytes,
					    "bytes_per_vector", per, "checks_recorded", s.checks_recorded));
	printf("index %lld: %s\n  factory %s%s, model %s sha256 %.12s...\n  %lld vectors of "
	       "%lld segments; %lld embedded segments not yet added%s\n  created %s, updated %s\n",
	       (long long)s.index_id, s.path, s.factory,
	       strstr(s.factory, "Flat") ? " (exact)" : " (compressed; hits re-ranked exactly)",
	       s.model_name, s.model_sha256,
	       (long long)s.n_vectors, (long long)s.n_segments, (long long)s.pending_segments,
	       s.pending_segments ? " (run: aedcurate index build)" : "", s.created_at,
	       s.updated_at);
	printf("  %.1f MB on disk, %.0f bytes a vector%s\n", bytes / 1e6, per,
	       strstr(s.factory, "IVF") ? "; mine maps the file and reads only the lists it probes"
					: "; mine reads the whole file");
	if (s.nprobe)
		printf("  nprobe %d\n", s.nprobe);
	printf("  %s\n", s.checks_recorded
			       ? "checks recorded by index build: nothing embedded or removed since"
			       : "checks read from the tables: an embedding or a segment's recording "
				 "changed since index build last checked it (or it never did)");
	return AED_OK;
}
