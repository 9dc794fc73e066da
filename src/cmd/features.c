/* features.c - `aedcurate features`: argv -> struct aed_features_opts -> the
 * features stage; prints what the run did (text or --json). */
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

/* The stage's options, and --preset's name until it is looked up. */
struct features_cli {
	struct aed_features_opts s;
	const char *preset;
};

#define O(f) offsetof(struct features_cli, f)
static const struct aed_opt opts[] = {
	{ "preset", 'p', AED_OPT_STR, O(preset), "NAME",
	  "yamnet (log offset 0.001, patch hop 48) or vggish (0.01, 96)", .def.s = "yamnet" },
	CMD_OPT_SHARD(O(s.shard)),
	CMD_OPT_MAX_ATTEMPTS(O(s.max_attempts)),
	CMD_OPT_BATCH(O(s.batch), AED_FEATURES_BATCH_DEFAULT),
	CMD_OPT_REDO(O(s.redo), "compute every segment again"),
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "features",
	.summary = "Compute the AudioSet log-mel spectrogram of every decoded clip.",
	.details =
		"As VGGish's mel_features.py: 25 ms periodic Hann frames every 10 ms (no\n"
		"padding: a 10 s clip gives 998 frames), 512-point FFT magnitude, 64 HTK-mel\n"
		"bands 125-7500 Hz, log(mel + offset). Stored as f32 [frames, 64] arrays of\n"
		"kind logmel_<preset>; `aedcurate dump features SEGMENT -o x.npy` reads one.\n"
		"A clip shorter than `decode --clip-seconds` is covered over its real samples,\n"
		"padded as YAMNet pads a waveform (at least 0.975 s, then whole 0.48 s hops):\n"
		"a 4 s clip gives 432 frames and 8 patches, not 998 and 20 of mostly zeros.\n"
		"Run `features --redo` after `decode --redo` (and on databases whose short\n"
		"clips were featurised over their padding, then `embed --redo`).",
	.opts = opts,
	.max_args = 0,
};

int cmd_features(struct aed_ctx *ctx, int argc, char **argv)
{
	struct features_cli c = { 0 };
	struct aed_features_opts *o = &c.s;
	struct aed_stage_stats s;
	aed_features_opts_init(o);
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);
	if (rc)
		return rc;
	if ((rc = aed_preset_parse(c.preset, &o->preset)))
		return rc;
	o->threads = ctx->g.threads;
	if ((rc = aed_ctx_open_db(ctx, 0)))
		return rc;
	double t0 = aed_now();
	rc = aed_stage_features(ctx->db, o, &s);
	double dt = aed_now() - t0;
	if (rc)
		return rc;
	if (!ctx->g.json) {
		char stage[32];
		snprintf(stage, sizeof stage, "features_%s", aed_preset_name(o->preset));
		cmd_warn_failures(ctx->db, stage, s.run_id, s.failed);
	}
	if (ctx->g.json)
		printf("{\"run_id\": %" PRId64 ", \"preset\": \"%s\", \"done\": %" PRId64
		       ", \"failed\": %" PRId64 ", \"already_done\": %" PRId64 ", \"seconds\": %.3f}\n",
		       s.run_id, aed_preset_name(o->preset), s.done, s.failed, s.skipped, dt);
	else
		aed_info("features (%s): %" PRId64 " clips done, %" PRId64 " failed, %" PRId64
			 " already done (%.1f s)", aed_preset_name(o->preset), s.done, s.failed,
			 s.skipped, dt);
	return AED_OK;
}
