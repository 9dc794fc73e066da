/* embed.c - `aedcurate embed`: argv -> struct aed_embed_opts -> the embed
 * stage (src/stage/embed.c); prints the summary (text or --json). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

struct embed_cli {
	const char *model, *backend, *shard;
	long batch, limit, max_attempts;
	int redo;
};

#define O(f) offsetof(struct embed_cli, f)
static const struct aed_opt opts[] = {
	{ "model", 'm', AED_OPT_STR, O(model), "PATH",
	  "YAMNet TFLite file (default $AEDCURATE_MODEL, build/models/yamnet.tflite, "
	  "$AEDCURATE_SHARED/models/yamnet/yamnet.tflite)" },
	{ "batch", 'b', AED_OPT_LONG, O(batch), "N", "patches per network batch (default 32)" },
	{ "backend", 0, AED_OPT_STR, O(backend), "NAME", "compute backend (default cpu)" },
	{ "limit", 'n', AED_OPT_LONG, O(limit), "N", "stop after N segments" },
	{ "shard", 0, AED_OPT_STR, O(shard), "I/N", "only segments whose key hashes to shard I of N" },
	{ "max-attempts", 0, AED_OPT_LONG, O(max_attempts), "N",
	  "runs that may retry a failed segment (default 3)" },
	{ "redo", 0, AED_OPT_FLAG, O(redo), NULL,
	  "recompute every segment (needed to switch to another model file)" },
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
	struct embed_cli c = { 0 };
	struct aed_embed_opts o = { 0 };
	struct aed_embed_stats s;
	struct aed_shard shard = { 0, 0 };
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);
	if (rc)
		return rc;
	if (c.batch < 0 || c.batch > 4096 || c.limit < 0 || c.max_attempts < 0 ||
	    ctx->g.threads < 0 || ctx->g.threads > 256)
		return aed_error(AED_EUSAGE, "embed: --batch (1..4096), --threads (..256), --limit "
				 "and --max-attempts must be sensible numbers");
	if (c.shard && (rc = aed_shard_parse(c.shard, &shard)))
		return rc;
	o.model_path = c.model;
	o.backend = c.backend;
	o.batch = (int)c.batch;
	o.threads = (int)ctx->g.threads;
	o.redo = c.redo;
	o.shard_index = shard.index;
	o.shard_count = shard.count;
	o.max_attempts = (int)c.max_attempts;
	o.limit = c.limit;
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
