/* decode.h - the decode and features stages: every fetched media file
 * becomes a stored 16 kHz clip (decode), and every clip a stored log-mel
 * (features); on a clip's way from a CSV row to a shard they come after
 * fetch and before embed. The audio they call (FFmpeg decode, the log-mel
 * front end) and the clip and log-mel layouts in the array store are in
 * audio.h.
 *
 * Ownership: functions taking a struct aed_db only borrow it. Every function
 * returns an enum aed_status and records a message on failure.
 */
#ifndef AEDCURATE_DECODE_H
#define AEDCURATE_DECODE_H

#include <stdint.h>

#include "aedcurate/audio.h"
#include "aedcurate/store.h"

struct aed_stage_stats {
	int64_t run_id;
	int64_t done;           /* items finished by this run */
	int64_t failed;         /* items that failed in this run (reason in work.error) */
	int64_t skipped;        /* already done before this run */
};

/* decode (work stage "decode"): every segment of `media` with status 'ok'
 * becomes a clip: whole_video 1 cuts [segment.start_ms, end_ms) from the file,
 * 0 takes the file from its start; at most clip_seconds, zero-padded to it.
 * Worker threads each open their own database handle and array writer and
 * claim batches; a batch's clips, clip rows and work states commit together.
 * A failure (FFmpeg's reason) is a failed work row; the stage goes on. A clip
 * stored again drops the features work of its segment (log-mels go stale).
 * Clip lengths should not change between runs of one database (--redo). */
struct aed_decode_opts {
	double clip_seconds;    /* s, clip length; 0 = the default */
	int threads;            /* worker threads; 0 = all cores */
	struct aed_shard shard; /* --shard I/N, count 0 = all */
	int max_attempts;       /* failed items are retried by later runs until an item
	                         * has been tried this often; 0 = the default */
	int redo;               /* forget the stage's work and decode everything again */
	int batch;              /* items per transaction; 0 = the default */
};
/* Defaults: aed_decode_opts_init() and `aedcurate decode`'s option rows. */
#define AED_DECODE_CLIP_SECONDS_DEFAULT 10.0
#define AED_DECODE_BATCH_DEFAULT 16
static inline void aed_decode_opts_init(struct aed_decode_opts *o)
{
	*o = (struct aed_decode_opts){
		.clip_seconds = AED_DECODE_CLIP_SECONDS_DEFAULT,
		.max_attempts = AED_WORK_MAX_ATTEMPTS_DEFAULT,
		.batch = AED_DECODE_BATCH_DEFAULT,
	};
}
int aed_stage_decode(struct aed_db *db, const struct aed_decode_opts *o,
		     struct aed_stage_stats *st);

/* features (work stage "features_<preset>"): every segment with a clip row
 * gets a "logmel_<preset>" array, f32 [frames, 64], of the first
 * aed_logmel_samples(clip.n_samples, stored length) samples of its clip: a
 * 4 s clip in a 10 s corpus gives 432 frames (8 YAMNet patches), not 998. */
struct aed_features_opts {
	enum aed_preset preset;
	int threads;            /* worker threads; 0 = all cores */
	struct aed_shard shard;
	int max_attempts;       /* as for decode; 0 = the default */
	int redo;
	int batch;              /* items per transaction; 0 = the default */
};
/* Defaults: aed_features_opts_init() and `aedcurate features`'s option rows. */
#define AED_FEATURES_PRESET_DEFAULT AED_PRESET_YAMNET
#define AED_FEATURES_BATCH_DEFAULT 32
static inline void aed_features_opts_init(struct aed_features_opts *o)
{
	*o = (struct aed_features_opts){
		.preset = AED_FEATURES_PRESET_DEFAULT,
		.max_attempts = AED_WORK_MAX_ATTEMPTS_DEFAULT,
		.batch = AED_FEATURES_BATCH_DEFAULT,
	};
}
int aed_stage_features(struct aed_db *db, const struct aed_features_opts *o,
		       struct aed_stage_stats *st);

#endif
