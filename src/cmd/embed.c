/* embed.c - `aedcurate embed`: argv -> struct aed_embed_opts -> the embed
 * stage (src/stage/embed.c); prints the summary (text or --json). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "aedcurate/cli.h"
#include "aedcurate/embed.h"
#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

#define O(f) offsetof(struct aed_embed_opts, f)
static const struct aed_opt opts[] = {
	{ "model", 'm', AED_OPT_STR, O(model_path), "PATH", "YAMNet TFLite file",
	  .def_note = "$AEDCURATE_MODEL, build/models/yamnet.tflite, "
		      "$AEDCURATE_SHARED/models/yamnet/yamnet.tflite" },
	{ "batch", 'b', AED_OPT_INT, O(batch), "N", "patches per network batch",
	  .def.i = AED_EMBED_BATCH_DEFAULT, AED_OPT_RANGE(0, 4096) },
	{ "backend", 0, AED_OPT_STR, O(backend), "NAME", "compute backend", .def_note = "cpu" },
	{ "limit", 'n', AED_OPT_INT64, O(limit), "N", "stop after N segments", AED_OPT_AT_LEAST(0),
	  .def_note = "all" },
	CMD_OPT_SHARD(O(shard)),
	CMD_OPT_MAX_ATTEMPTS(O(max_attempts)),
	CMD_OPT_REDO(O(redo), "recompute every segment (needed to switch to another model file)"),
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "embed",
	.summary = "Run YAMNet over every segment's log-mel patches: embeddings and AudioSet scores.",
	.details =
		"Reads the 'logmel_yamnet' arrays made by `features` and stores per segment\n"
		"'embedding' f32 [patches, 1024] and 'scores' f32 [patches, 521] (patch i\n"
		"starts at 0.48 i s and lasts 0.96 s). The model file is recorded by name and\n"
		"sha256; results of another file are not mixed in without --redo. Resumable:\n"
		"a killed run continues where it stopped, with identical results.\n"
		"Get the model with `make models` (downloads the official YAMNet TFLite).",
	.opts = opts,
	.max_args = 0,
};

int cmd_embed(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_embed_opts o;
	struct aed_embed_stats s;
	aed_embed_opts_init(&o);
	int rc = aed_parse(ctx, &spec, argc, argv, &o, NULL);
	if (rc)
		return rc;
	if (ctx->g.threads > 256)
		return aed_error(AED_EUSAGE, "embed: --threads %d: at most 256", ctx->g.threads);
	o.threads = ctx->g.threads;
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_stage_embed(ctx->db, &o, &s)))
		return rc;
	double pps = s.net_seconds > 0 ? (double)s.patches / s.net_seconds : 0;
	if (ctx->g.json)
		printf("{\"run_id\": %" PRId64 ", \"done\": %" PRId64 ", \"failed\": %" PRId64
		       ", \"skipped\": %" PRId64 ", \"patches\": %" PRId64
		       ", \"net_seconds\": %.3f, \"patches_per_second\": %.1f"
		       ", \"model\": \"yamnet\", \"sha256\": \"%s\"}\n",
		       s.run_id, s.done, s.failed, s.skipped, s.patches, s.net_seconds, pps,
		       s.model_sha256);
	else
		aed_info("embed: %" PRId64 " segments embedded (%" PRId64 " patches, %.1f patches/s), %"
			 PRId64 " failed, %" PRId64 " already done; model yamnet sha256 %.16s...",
			 s.done, s.patches, pps, s.failed, s.skipped, s.model_sha256);
	return AED_OK;
}
