/* export.h - training shards: the class-balanced, stratified selection of the
 * decoded clips, written as WebDataset tar shards or as TFRecord files in the
 * AudioSet release's layout. Audio members are encoded by flac.h, TFRecord
 * rows pooled and reduced by pca.h.
 *
 * Ownership: the options and result structs are the caller's (neither holds
 * memory of the library's). aed_export() borrows the database. Every function
 * returning int returns an enum aed_status and records a message.
 *
 * Export directory (written by aed_export()):
 *   {split}-{NNNNNN}.tar | .tfrecord  the shards, NNNNNN from 000000 per split
 *   index.json      {"format", "splits": {split: {"samples", "pattern" (brace
 *                   form, e.g. "train-{000000..000003}.tar"), "wids", "shards":
 *                   [{"name", "samples", "bytes", "sha256"}]}}}; deterministic bytes
 *   {split}.wids.json  {"__kind__": "wids-shard-index-v1", "wids_version": 1,
 *                   "name", "shardlist": [{"url", "nsamples"}]} (wids' descriptor)
 *   classes.json    {"columns": [{"column", "index", "mid", "name", "ancestors"
 *                   (columns), "positives": {split: n}, "pos_weight"}], ...}:
 *                   the column order of labels.npy and pos_weight.npy
 *   pos_weight.npy  f32 [columns]: (mean prior / prior_c)^beta over the train
 *                   split's targets (1 where train has no positive), the
 *                   pos_weight of a BCE loss whose negatives weigh 1
 *   manifest.json   the parameters, counts per class and split, the runs and
 *                   models the data came from, where each number came from,
 *                   the export's own run id and time
 *   priors.csv      column,index,mid,display_name,n_pos,n_total,prior,pos_weight
 *                   (the train split's targets, as pos_weight.npy)
 *   class_counts.csv index,mid,display_name,available,selected,augmented,{split}...
 *   pca.json, pca_mean.npy (f32 [1024]), pca_components.npy (f32 [128, 1024])
 *                   (tfrecord only) the fitted PCA
 *   README.md       the layout, in words
 *
 * WebDataset sample (tar members, in this order, all of one key together):
 *   KEY.flac        the clip's real samples (clip.n_samples), 16 kHz mono
 *                   16-bit FLAC: "fLaC", one STREAMINFO block (total samples
 *                   filled in), frames. Written only with payload audio.
 *   KEY.json        labels, soft labels, refined frames, ingest splits,
 *                   provenance (fields listed in README.md and src/stage/export/sample_json.c)
 *   KEY.labels.npy  f32 [columns] multi-hot target over classes.json's columns:
 *                   the stored labels and (unless no_ancestors) every
 *                   ancestor of them that is a column
 *   KEY.soft.npy    f32 [columns], only where SeCoST soft labels exist: labels.npy
 *                   with each soft-labelled column's target in place
 *   KEY.mask.npy    u8 [patches, columns], only where refinement stored frame
 *                   masks: a refined column's mask; other columns repeat labels.npy
 *   KEY.logmel.npy  f32 [frames, 64] ("logmel_yamnet"), payload logmel
 *   KEY.embedding.npy f32 [patches, 1024], payload embedding
 * KEY is the segment key "{ytid}_{start_ms}" with any '.' replaced by '_'
 * (WebDataset splits member names at the first dot). Members are in sample
 * order; mtime is fixed (opts.mtime), uid/gid 0, names empty.
 *
 * TFRecord (AudioSet layout): one tf.train.SequenceExample per sample, with
 * context video_id (bytes), start_time_seconds, end_time_seconds (float),
 * labels (int64, class_labels_indices indices) and the feature list
 * audio_embedding: one 128-byte string per second (tfrecord.h).
 *
 * Per-second embeddings: second s of a clip is the mean of the YAMNet patch
 * embeddings overlapping [s, s+1) (patch i covers [0.48 i, 0.48 i + 0.96) s),
 * for s < ceil(real samples / 16000). The PCA (fitted on those per-second rows
 * of every embedded segment of the corpus) centres them, projects them on the
 * 128 leading eigenvectors of the covariance and divides by the square root
 * of each eigenvalue (whitening, so that [-2, 2] spans two standard
 * deviations); each value is then clipped to [-2, 2] and quantised as
 * floor((x + 2) * 255 / 4), as the AudioSet release's VGGish postprocessor does.
 */
#ifndef AEDCURATE_EXPORT_H
#define AEDCURATE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/util.h"

struct aed_db;

/* --- the export stage ---------------------------------------------------------- */
enum aed_export_format { AED_EXPORT_WEBDATASET, AED_EXPORT_TFRECORD };
enum {
	AED_PAYLOAD_AUDIO = 1 << 0,
	AED_PAYLOAD_LOGMEL = 1 << 1,
	AED_PAYLOAD_EMBEDDING = 1 << 2,
};

#define AED_EXPORT_MAX_SPLITS 8

struct aed_export_split {
	char name[32];           /* [A-Za-z0-9_-] */
	double fraction;         /* > 0; fractions are normalised to sum 1 */
};

/* Clips ingested into split `from` (segments ingest --split) all go to the
 * export's split `to`: an evaluation list stays out of train. */
#define AED_EXPORT_MAX_KEEP 8
struct aed_export_keep {
	char from[32], to[32];
};

struct aed_export_opts {
	const char *out_dir;     /* created; existing shards of the same names replaced */
	enum aed_export_format format;
	int64_t min, max;        /* per-class examples; max 0 = no cap */
	struct aed_export_split splits[AED_EXPORT_MAX_SPLITS];
	int n_splits;            /* 0: train=0.8,val=0.1,test=0.1 */
	int64_t shard_size;      /* samples per shard at most; 0 = the default */
	unsigned payload;        /* AED_PAYLOAD_*; 0 = audio (webdataset) */
	int mix_augment;         /* mixes for classes below min */
	uint64_t seed;           /* selection, split, order and mixes */
	int64_t mtime;           /* tar member mtime, s since the epoch */
	int threads;             /* threads preparing audio and arrays; 0 = all cores.
	                          * The bytes written do not depend on it. */
	struct aed_export_keep keep[AED_EXPORT_MAX_KEEP];
	int n_keep;
	int keep_set;            /* 0: eval=test where the export has a split test */
	int no_ancestors;        /* 1: targets are the stored labels only */
	int64_t shards_per_split; /* at least this many shards per split (fewer only
	                          * where it has fewer samples); 0 = the default */
	int beta_set;            /* 0: beta of the last priors run, else 1 */
	double beta;             /* pos_weight = (mean prior / prior)^beta */
};

/* Defaults: aed_export_opts_init() and `aedcurate export`'s option rows. A
 * zeroed struct gets the same from the stage (0 = the default). */
#define AED_EXPORT_FORMAT_DEFAULT AED_EXPORT_WEBDATASET
#define AED_EXPORT_SHARD_SIZE_DEFAULT 1000
#define AED_EXPORT_SHARDS_PER_SPLIT_DEFAULT 2
#define AED_EXPORT_SEED_DEFAULT 1
static inline void aed_export_opts_init(struct aed_export_opts *o)
{
	*o = (struct aed_export_opts){
		.format = AED_EXPORT_FORMAT_DEFAULT,
		.shard_size = AED_EXPORT_SHARD_SIZE_DEFAULT,
		.shards_per_split = AED_EXPORT_SHARDS_PER_SPLIT_DEFAULT,
		.seed = AED_EXPORT_SEED_DEFAULT,
	};
}

struct aed_export_result {
	int64_t run_id;
	int64_t n_candidates;    /* labelled segments with a clip */
	int64_t n_unlabelled;    /* clips without labels (not exported) */
	int64_t n_selected;      /* real clips exported */
	int64_t n_augmented;     /* mixes exported */
	int64_t n_refined;       /* exported clips with refinement results */
	int64_t n_classes;       /* classes among the candidates */
	int64_t n_below_min;     /* classes with fewer than min real examples */
	int64_t n_short;         /* of those, classes with fewer than min candidates */
	int64_t n_shards;
	struct aed_export_split splits[AED_EXPORT_MAX_SPLITS]; /* as used (defaults filled in) */
	int n_splits;
	int64_t per_split[AED_EXPORT_MAX_SPLITS]; /* samples per split, in that order */
	int64_t n_columns;       /* classes.json's columns */
	int64_t n_kept;          /* clips placed by their ingest split (opts.keep) */
	int64_t no_positive[AED_EXPORT_MAX_SPLITS]; /* columns without a positive, per split */
	char no_positive_names[AED_EXPORT_MAX_SPLITS][256]; /* the first few, "; "-separated */
	double beta;             /* as used */
	int64_t bytes;           /* of the shards */
	double seconds;          /* wall time of writing the shards */
};

/* Parse "train=0.7,val=0.2,test=0.1" and "min=N,max=M" (either may be left
 * out) and "audio,logmel,embedding". */
int aed_export_parse_splits(const char *s, struct aed_export_opts *o);
int aed_export_parse_balance(const char *s, int64_t *min, int64_t *max);
int aed_export_parse_payload(const char *s, unsigned *payload);
/* "eval=test,other=val", or "none" (no split kept). */
int aed_export_parse_keep(const char *s, struct aed_export_opts *o);

int aed_export(struct aed_db *db, const struct aed_export_opts *o, struct aed_export_result *r);

#endif
