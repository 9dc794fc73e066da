/* internal.h - what the pieces of the export stage share: the working set
 * (struct ex: classes, clips, mixes, samples, columns) and one function list
 * per file, in the order a clip passes through them: load.c (the labelled
 * clips), select.c, split.c, mix.c, samples.c (sample order, shards, targets),
 * sample_json.c, webdataset.c or tfrecord.c, shards.c, shard_index.c,
 * trainer_files.c; export.c runs them. Not a public header: src/stage/export/
 * only.
 *
 * Ownership: struct ex owns every array and string it points to, released by
 * the driver once (export.c); the functions below borrow it. Every function
 * returning int returns an enum aed_status and records a message.
 */
#ifndef AEDCURATE_STAGE_EXPORT_INTERNAL_H
#define AEDCURATE_STAGE_EXPORT_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "aedcurate/export.h"
#include "aedcurate/pca.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

struct aed_tar;

/* A label annotators decided is not there (review_decision 'not_present') is
 * left out of the export; the segment's JSON lists it under "negatives". */
#define NOT_REJECTED(l) " NOT EXISTS (SELECT 1 FROM review_decision r WHERE r.segment_id = " l \
	".segment_id AND r.class_id = " l ".class_id AND r.decision = 'not_present') "
#define EMBED_DIM 1024       /* YAMNet embedding width */

/* --- the working set --------------------------------------------------------- */

struct xclass {
	int64_t id;
	char *mid, *name;
	int64_t label_index;          /* -1: none */
	int64_t avail, sel, aug;      /* candidates, selected real clips, mixes carrying it */
	int64_t split_n[AED_EXPORT_MAX_SPLITS]; /* samples (real + mixes) per split */
	double weight;                /* pos_weight of its column (1 without a train positive) */
	double prior;                 /* train positives / train samples (targets) */
	int rank;                     /* position in rarest-first order */
	int col;                      /* column in classes.json, -1: no exported sample has it */
	int *anc;                     /* ancestor class indexes (ontology closure, depth > 0) */
	int n_anc;
	int64_t pos_n[AED_EXPORT_MAX_SPLITS]; /* samples whose target has it, per split */
};

struct xseg {
	int64_t id;
	char *key, *ytid, *group;
	char *ingest;                 /* the splits it was ingested into, ","-joined, sorted */
	int keep;                     /* export split its ingest split sends it to, -1: free */
	int64_t start_ms, end_ms;     /* end -1: open */
	int64_t n_samples, n_total;   /* clip table: real, stored (16 kHz) */
	int has_emb;
	int *cls;                     /* class indexes, ascending rank */
	int n_cls;
	uint64_t h;                   /* seeded selection order */
	int sel, split;
};

struct xmix {
	int a, b;                     /* segment indexes */
	int cls;                      /* class it was made for */
	int split;
	int *cls_union;
	int n_cls;
	char *key;
	double delay_s, gain_db, eq_hz, eq_db;
};

struct xsample {
	int seg;                      /* >= 0 real clip */
	int mix;                      /* >= 0 mix */
	int split;
	const char *key;
	uint64_t h;
	int shard, position;
};

struct ex {
	struct aed_db *db;
	const struct aed_export_opts *o;
	struct aed_export_opts opt;   /* with defaults */
	struct xclass *cls;
	size_t n_cls;
	struct xseg *seg;
	size_t n_seg;
	struct xmix *mix;
	size_t n_mix, cap_mix;
	struct xsample *smp;
	size_t n_smp;
	int *col_cls;                 /* column -> class index */
	int n_cols;
	int64_t split_total[AED_EXPORT_MAX_SPLITS]; /* samples per split */
	int64_t beta_run;             /* priors run the beta came from, 0: none */
	struct aed_pca pca;
	int have_pca;
	sqlite3_stmt *st_info, *st_src, *st_soft, *st_mask, *st_neg;
};

/* --- load.c: deterministic randomness, look-ups, the labelled clips ------------ */
/* Every choice of an export is a function of the seed and a name: FNV-1a of
 * salt and s mixed with the seed (splitmix64), and uniform doubles in [0, 1)
 * from a splitmix64 state. */
uint64_t ex_hash_str(uint64_t seed, const char *salt, const char *s);
double ex_rng_uniform(uint64_t *state);
int ex_cmp_i64(const void *a, const void *b);
/* The index in x->cls (ascending ids) of class id, -1 if it is not there. */
int ex_find_class(const struct ex *x, int64_t id);
/* The ex whose classes ex_cmp_cls_rank() and the other qsort comparators of
 * this stage read: set it just before qsort. */
extern const struct ex *ex_sort_ctx;
int ex_cmp_cls_rank(const void *a, const void *b);
int ex_load(struct ex *x, struct aed_export_result *r);
/* AED_ESTATE if two candidates share a sample key once sanitised. */
int ex_check_keys(const struct ex *x);

/* --- select.c, split.c, mix.c ------------------------------------------------- */
int ex_select_clips(struct ex *x, struct aed_export_result *r);
int ex_apply_keep(struct ex *x, struct aed_export_result *r);
int ex_assign_splits(struct ex *x);
int ex_make_mixes(struct ex *x);
/* The mix's samples into *pcm (malloc'd, *n samples). */
int ex_render_mix(const struct ex *x, struct aed_db *db, const struct xmix *m, int16_t **pcm,
		  size_t *n);

/* --- samples.c: sample order and shards, columns and targets ------------------- */
int ex_plan_samples(struct ex *x, struct aed_export_result *r);
int ex_load_ancestors(struct ex *x);
void ex_target_row(const struct ex *x, const int *cls, int n, float *row);
int ex_build_targets(struct ex *x, struct aed_export_result *r);

/* --- sample_json.c: KEY.json ------------------------------------------------------ */
int64_t ex_seg_end_ms(const struct xseg *g);
/* The per-sample statements (x->st_*), prepared once before the shards. */
int ex_prepare_queries(struct ex *x);
int ex_seg_json(struct ex *x, const struct xseg *g, const char *split, int audio, json_t **out);
int ex_mix_json(struct ex *x, const struct xmix *m, const char *split, size_t n_samples,
		int audio, json_t **out);

/* --- tfrecord.c: the PCA over the corpus, one AudioSet-layout record ------------- */
int ex_fit_pca(struct ex *x);
int ex_write_pca(struct ex *x, const char *dir);
int ex_tfrecord_sample(struct ex *x, const struct xseg *g, struct aed_buf *out);

/* --- webdataset.c: one sample's tar members ------------------------------------ */
/* The bulk members of one WebDataset sample, made by a worker thread with its
 * own database handle: FLAC bytes, log-mel and embedding arrays. */
struct prep {
	struct aed_buf flac;
	struct aed_array logmel, emb; /* data malloc'd (aed_array_release) */
	size_t n_audio;               /* samples of the audio (mixes: rendered length) */
	int rc;
	char err[512];
};

void ex_prep_release(struct prep *p);
int ex_prep_sample(const struct ex *x, struct aed_db *db, const struct xsample *sm,
		   struct prep *p);
int ex_wds_emit(struct ex *x, const struct xsample *sm, const struct prep *p, struct aed_tar *t);

/* --- shards.c: the shards, in sample order ------------------------------------- */
struct shard_info {
	char name[64];
	int split;
	int64_t samples, bytes;
	char sha256[65];
};

int ex_write_shards(struct ex *x, const char *dir, struct shard_info **infos, size_t *n_infos,
		    struct aed_export_result *r);

/* --- shard_index.c: index.json, SPLIT.wids.json, the folder's file list -------- */
int ex_export_files(const struct ex *x, const struct shard_info *si, size_t n_si,
		    const char ***names, size_t *n, char **names_buf);
const char *ex_format_name(enum aed_export_format f);
json_t *ex_params_json(const struct ex *x);
/* dir/name: j indented, a newline at the end, written atomically; sha (if
 * not NULL) gets the sha256 of those bytes. */
int ex_write_json_file(const char *dir, const char *name, json_t *j, char sha[65]);
int ex_write_index(struct ex *x, const char *dir, const struct shard_info *si, size_t n,
		   char sha[65]);

/* --- trainer_files.c: classes, loss weights, counts, manifest, README ---------- */
int ex_write_csvs(struct ex *x, const char *dir);
void ex_keep_str(const struct ex *x, char *buf, size_t cap);
int ex_write_classes(struct ex *x, const char *dir);
int ex_write_manifest(struct ex *x, const char *dir, const struct aed_export_result *r);
int ex_write_readme(struct ex *x, const char *dir, const struct aed_export_result *r);

#endif
