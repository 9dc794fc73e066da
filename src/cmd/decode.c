/* decode.c - `aedcurate decode`: argv -> struct aed_decode_opts -> the decode
 * stage; prints what the run did (text or --json). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "aedcurate/audio.h"
#include "aedcurate/decode.h"
#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

#define O(f) offsetof(struct aed_decode_opts, f)
static const struct aed_opt opts[] = {
	{ "clip-seconds", 0, AED_OPT_DOUBLE, O(clip_seconds), "S",
	  "clip length; shorter audio is zero-padded", .def.d = AED_DECODE_CLIP_SECONDS_DEFAULT,
	  AED_OPT_RANGE(0, 3600) },
	CMD_OPT_SHARD(O(shard)),
	CMD_OPT_MAX_ATTEMPTS(O(max_attempts)),
	CMD_OPT_BATCH(O(batch), AED_DECODE_BATCH_DEFAULT),
	CMD_OPT_REDO(O(redo), "decode every segment again"),
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "decode",
	.summary = "Decode each fetched segment to a 16 kHz mono clip in the array store.",
	.details =
		"FFmpeg's libraries run in-process: any container and codec FFmpeg reads.\n"
		"A file holding a whole video is cut at [start, end) of the segment; a file\n"
		"that is the segment is taken from its start. All channels are averaged,\n"
		"resampled to 16 kHz and zero-padded to exactly --clip-seconds; the real\n"
		"length is kept in the clip table. Clips are int16 arrays of kind 'clip'.\n"
		"A file that cannot be decoded is recorded as failed with FFmpeg's reason\n"
		"(aedcurate status, or the work table) and the stage goes on.",
	.opts = opts,
	.max_args = 0,
};

int cmd_decode(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_decode_opts o;
	struct aed_stage_stats s;
	aed_decode_opts_init(&o);
	int rc = aed_parse(ctx, &spec, argc, argv, &o, NULL);
	if (rc)
		return rc;
	o.threads = ctx->g.threads;
	if ((rc = aed_ctx_open_db(ctx, 0)))
		return rc;
	double t0 = aed_now();
	rc = aed_stage_decode(ctx->db, &o, &s);
	double dt = aed_now() - t0;
	if (rc)
		return rc;
	if (!ctx->g.json)
		cmd_warn_failures(ctx->db, "decode", s.run_id, s.failed);
	if (ctx->g.json)
		printf("{\"run_id\": %" PRId64 ", \"done\": %" PRId64 ", \"failed\": %" PRId64
		       ", \"already_done\": %" PRId64 ", \"seconds\": %.3f}\n",
		       s.run_id, s.done, s.failed, s.skipped, dt);
	else
		aed_info("decode: %" PRId64 " clips decoded, %" PRId64 " failed, %" PRId64
			 " already done (%.1f s)", s.done, s.failed, s.skipped, dt);
	return AED_OK;
}
