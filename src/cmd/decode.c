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

struct decode_cli {
	double clip_seconds;
	const char *shard;
	long max_attempts, batch;
	int redo;
};

#define O(f) offsetof(struct decode_cli, f)
static const struct aed_opt opts[] = {
	{ "clip-seconds", 0, AED_OPT_DOUBLE, O(clip_seconds), "S",
	  "clip length; shorter audio is zero-padded (default 10)" },
	{ "shard", 0, AED_OPT_STR, O(shard), "I/N", "only segments whose key hashes to shard I of N" },
	{ "max-attempts", 0, AED_OPT_INT, O(max_attempts), "N",
	  "runs that may retry a failed segment (default 3)" },
	{ "batch", 0, AED_OPT_INT, O(batch), "N", "segments per transaction (default 16)" },
	{ "redo", 0, AED_OPT_FLAG, O(redo), NULL, "decode every segment again" },
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
	struct decode_cli c = { 0 };
	struct aed_decode_opts o = { 0 };
	struct aed_stage_stats s;
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);
	if (rc)
		return rc;
	if (c.clip_seconds < 0 || c.clip_seconds > 3600 || c.max_attempts < 0 || c.batch < 0 ||
	    c.batch > 1024)
		return aed_error(AED_EUSAGE, "decode: --clip-seconds (0..3600], --max-attempts and "
				 "--batch (1..1024) must be sensible numbers");
	if (c.shard && (rc = aed_shard_parse(c.shard, &o.shard)))
		return rc;
	o.clip_seconds = c.clip_seconds > 0 ? c.clip_seconds : 10.0;
	o.threads = (int)ctx->g.threads;
	o.max_attempts = (int)c.max_attempts;
	o.batch = (int)c.batch;
	o.redo = c.redo;
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
