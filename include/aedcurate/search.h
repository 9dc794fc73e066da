/* search.h - vector search over patch embeddings through FAISS's C API:
 * an index built from a factory string (exact "Flat" or IVF-based), trained
 * on a sample, filled incrementally, searched by inner product, saved to and
 * loaded from a file; and k-means through FAISS's clustering.
 *
 * Vectors are float32 rows of `dim` values. Callers L2-normalise vectors
 * first (aed_l2_normalize), so scores are cosine similarities in [-1, 1]:
 * exact for Flat storage (inner product metric), estimates for a PCA index
 * (L2 metric, turned into 1 - d/2), whose hits callers re-rank exactly.
 *
 * Below the index, the in-memory core of exemplar mining (mine.h describes
 * the method): which exemplar frames to query with, and the multi-query
 * search with exact rescoring. It knows vectors and segment numbers only,
 * never the database (src/search/mine_core.c).
 *
 * Ownership: aed_vindex_new/read return an index the caller frees with
 * aed_vindex_free(&ix). Output arrays are the caller's; a frame selection
 * is caller-embedded and released with aed_frame_selection_release().
 * Every function returns an enum aed_status and records FAISS's message on
 * failure.
 *
 * File format: whatever faiss::write_index writes for the index (FAISS's own
 * binary serialisation; IVF indexes carry their direct map so vectors can be
 * reconstructed by id). The file is written to PATH.tmp, fsync'd and renamed,
 * so a reader never sees half an index.
 */
#ifndef AEDCURATE_SEARCH_H
#define AEDCURATE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

struct aed_vindex;

/* Below this many vectors "auto" builds an exact index; from it on, a
 * compressed IVF. */
#define AED_VINDEX_AUTO_EXACT_MAX 200000
#define AED_VINDEX_FACTORY_MAX 128
/* Dimensions the compressed index keeps (PCA), one byte each (SQ8). */
#define AED_VINDEX_PCA_DIM 256

/* The factory string "auto" stands for with n vectors: "Flat" (exact) below
 * exact_max, else "PCA256,IVF<nlist>,SQ8": PCA to 256 dimensions, nlist the
 * power of two nearest sqrt(n) (at least 256 from the default threshold on,
 * at most 65536 and n/39), 8-bit scalar codes: 256 + 8 (id) bytes a vector
 * instead of 4096 + 8. Its scores are estimates, searched by L2 (the PCA
 * centres the vectors); callers re-rank the hits against the stored
 * embeddings (aed_mine_corpus.fetch). */
void aed_vindex_auto_factory_at(int64_t n, int64_t exact_max, char buf[AED_VINDEX_FACTORY_MAX]);
/* The same at AED_VINDEX_AUTO_EXACT_MAX. */
void aed_vindex_auto_factory(int64_t n, char buf[AED_VINDEX_FACTORY_MAX]);
/* Default nprobe for an IVF index of nlist lists: nlist/64, at least 8
 * (measured by tests/bench/b05-search.sh: recall@100 >= 0.9 against exact). */
int aed_vindex_default_nprobe(int64_t nlist);
/* Training vectors an IVF index of nlist lists wants (40 per list, FAISS's
 * minimum without a warning is 39). */
int64_t aed_vindex_train_size(int64_t nlist);

/* A new empty index from a FAISS factory string ("Flat", "IVF1024,Flat",
 * "PCA256,IVF1024,SQ8", ...): inner product, or L2 when the string holds a
 * PCA (searched the same way, see aed_vindex_search). IVF indexes with Flat
 * storage keep a direct map so that aed_vindex_reconstruct works. */
int aed_vindex_new(const char *factory, int dim, struct aed_vindex **out);
void aed_vindex_free(struct aed_vindex **ix);

int aed_vindex_dim(const struct aed_vindex *ix);
int64_t aed_vindex_ntotal(const struct aed_vindex *ix);
int aed_vindex_is_trained(const struct aed_vindex *ix);
/* 1 when the index stores the vectors themselves (Flat, IVF..,Flat): its
 * similarities and reconstructions are exact. */
int aed_vindex_exact(const struct aed_vindex *ix);
/* nlist of an IVF index (under a pre-transform too), 0 for others. */
int64_t aed_vindex_nlist(const struct aed_vindex *ix);

/* Train on n vectors (an IVF's coarse quantiser); no-op when trained. */
int aed_vindex_train(struct aed_vindex *ix, int64_t n, const float *x);
/* Append n vectors; they get ids ntotal .. ntotal+n-1. */
int aed_vindex_add(struct aed_vindex *ix, int64_t n, const float *x);
/* Inverted lists visited per query (IVF); ignored by exact indexes. */
int aed_vindex_set_nprobe(struct aed_vindex *ix, int nprobe);
/* k nearest by inner product for each of nq queries: sims[nq][k] descending,
 * ids[nq][k]; -1 ids (and -inf sims) where fewer than k exist. An L2 index
 * reports 1 - d/2 for squared distance d: the cosine for unit vectors, an
 * estimate after its PCA and codes. */
int aed_vindex_search(struct aed_vindex *ix, int64_t nq, const float *q, int64_t k,
		      float *sims, int64_t *ids);
/* The stored vector of id (exact for Flat storage, decoded otherwise). */
int aed_vindex_reconstruct(struct aed_vindex *ix, int64_t id, float *out);

int aed_vindex_write(const struct aed_vindex *ix, const char *path);
int aed_vindex_read(const char *path, struct aed_vindex **out);
/* Read for searching: an IVF's inverted lists are not read but mapped from
 * the file (read-only), so a search touches only the lists it probes and a
 * warm page cache serves repeated calls. The index must not be modified. */
int aed_vindex_read_mapped(const char *path, struct aed_vindex **out);

/* Scale each of n rows of d floats to unit L2 norm (zero rows stay zero). */
void aed_l2_normalize(float *x, int64_t n, int d);

/* k-means with FAISS's Clustering: n vectors of d floats into k clusters
 * (k <= n). spherical: centroids re-normalised each iteration (for unit
 * vectors). centroids[k][d] (may be NULL), assign[n] the nearest centroid
 * of each vector by inner product when spherical, else by L2. Deterministic
 * for a given seed. */
int aed_kmeans(int d, int64_t n, int k, const float *x, int niter, int seed, int spherical,
	       float *centroids, int *assign);

/* --- core: exemplar frames ---------------------------------------------- */
struct aed_frame_select_opts {
	int clusters;       /* k-means k; 0 = auto: frames / (4 x exemplars), about
	                     * 2 s of each exemplar per cluster; at least 2 */
	int min_exemplars;  /* keep a cluster with frames from at least this many
	                     * exemplars; 0 = auto: 2, or 1 when there is one exemplar */
	int seed;           /* k-means seed */
	const float *generic; /* [n] each frame's mean similarity to the corpus, or
	                     * NULL: frames that resemble everything (silence, hum,
	                     * padding) have the highest */
	double generic_drop;/* drop this fraction of frames, those with the highest
	                     * generic value (0..1); negative = the default 0.25 */
	const float *spread;/* [n] each frame's similarity spread (std) over the
	                     * corpus, or NULL: with generic, enables the shared test */
	int share;          /* a frame is kept only when at least this many OTHER
	                     * exemplars have a frame unusually close to it (z >= 2
	                     * against the corpus); 0 = auto: 40% of the other
	                     * exemplars, at least 1; negative = off */
};

struct aed_frame_selection {
	int n_clusters;
	int *cluster;       /* [n] cluster of each frame */
	unsigned char *kept;/* [n] 1 if the frame is a query */
	unsigned char *generic; /* [n] 1 if dropped as resembling everything */
	unsigned char *unshared;/* [n] 1 if dropped: too few other exemplars have it */
	int *cl_exemplars;  /* [n_clusters] distinct exemplars in the cluster */
	int *cl_frames;     /* [n_clusters] frames in the cluster */
	unsigned char *cl_kept; /* [n_clusters] */
	int n_kept;
	int n_generic;      /* frames of kept clusters dropped as generic */
	int n_unshared;     /* frames dropped by the shared test */
	int share_needed;   /* other exemplars the shared test asked for (0: off) */
	float generic_cut;  /* frames with generic >= this were dropped */
	int fallback;       /* 1: no cluster spanned min_exemplars exemplars; the
	                     * clusters spanning the most exemplars were kept */
};

/* x: n unit vectors of d floats, exemplar[i] in 0..n_exemplars-1. */
int aed_mine_select_frames(const float *x, const int *exemplar, int64_t n, int d,
			   int n_exemplars, const struct aed_frame_select_opts *o,
			   struct aed_frame_selection *out);
void aed_frame_selection_release(struct aed_frame_selection *s);

/* --- core: multi-query search ------------------------------------------- */
#define AED_MINE_Z_FLOOR (-3.0) /* z scores below this count as this */

/* Fewer queries for the same score: the n query vectors q [n x d] are
 * clustered into k (k-means, seed) and each cluster becomes one query, the
 * normalised mean of its vectors, with weight[j] = its vectors (so the
 * weighted mean score over the merged queries approximates the mean over
 * the originals). Written over q's first *nk rows; empty clusters are
 * dropped (*nk <= k). n <= k: q unchanged, weights 1. */
int aed_mine_merge_queries(float *q, int n, int d, int k, int seed, float *weight, int *nk);

enum aed_mine_score {
	AED_MINE_SCORE_Z,   /* mean over queries of max((sim - mu_q) / sigma_q, -3) */
	AED_MINE_SCORE_RAW, /* mean over queries of sim */
};
const char *aed_mine_score_name(enum aed_mine_score s); /* "z", "raw" */

/* The corpus as the index sees it: vector ids of segment s (a segment
 * number 0..n_segments-1, not a database id) are first_vec[s] ..
 * first_vec[s+1]-1, patch p of s being first_vec[s] + p. */
struct aed_mine_corpus {
	struct aed_vindex *ix;
	int64_t n_segments;
	const int64_t *first_vec;       /* [n_segments + 1], ascending */
	const unsigned char *excluded;  /* [n_segments] 1 = never a candidate; may be NULL */
	const float *sample;            /* [n_sample][dim] unit vectors of the corpus, for 'z' */
	int64_t n_sample;
	/* The exact (stored, normalised) vectors of n ids, ascending, into
	 * out[n][dim]; NULL: the index's own (aed_vindex_reconstruct), which
	 * only an exact index has. A compressed index finds the candidates and
	 * this re-ranks them, so that every reported score is exact. */
	int (*fetch)(void *ctx, int64_t n, const int64_t *ids, float *out);
	void *fetch_ctx;
};

struct aed_mine_search_opts {
	int k;                  /* candidates wanted */
	int64_t hits_per_query; /* neighbours fetched per query; 0 = auto (max(4k, 256)),
	                         * raised until k segments survive the exclusions, and
	                         * lowered while the pool would exceed pool_max frames */
	enum aed_mine_score score;
	int64_t pool_max;       /* most distinct frames scored exactly; 0 = the default,
	                         * AED_MINE_POOL_MAX (with auto hits_per_query only) */
	const float *weight;    /* [nq] each query's share of the score (merged
	                         * frames: how many); NULL = equal shares */
	int64_t auto_hits;      /* > 0: the auto hits_per_query's start instead of
	                         * max(4k, 256) (widened and lowered the same) */
	int no_score_query;     /* 1: search the query frames only, not also the
	                         * score's own direction (see aed_mine_search) */
};

/* The exact re-rank reads and scores every pooled frame against every
 * query: many queries (a class with a hundred verified clips has hundreds of
 * exemplar frames) times 4k hits each can pool most of a large corpus. Past
 * this many frames (512 MB of stored vectors) each query takes fewer hits,
 * never under AED_MINE_POOL_MIN_HITS. A corpus smaller than this is never
 * affected. */
#define AED_MINE_POOL_MAX 131072
#define AED_MINE_POOL_MIN_HITS 16
/* The score query's hits, in multiples of each query frame's (aed_mine_search).
 * Chosen on b05's 10 M tiled corpus with dog_bark's exemplars (recall@100
 * against an exact re-rank of the same probes: 0.86 at 1, 0.98 at 4, 1.00 at
 * 16) and checked on its 9 other classes (1.00 each at 4). */
#define AED_MINE_SCORE_QUERY_SHARE 4

struct aed_mine_hit {
	int64_t segment;  /* segment number */
	int patch;        /* best frame */
	float score;
};

struct aed_mine_search_stats {
	int64_t hits_per_query; /* as finally used */
	int64_t score_query_hits; /* the score query's, as finally used (0: none) */
	int pool_capped;        /* hits per query lowered to keep the pool within pool_max */
	int64_t pooled_frames;  /* distinct frames scored exactly */
	int64_t pooled_segments;
	double seconds;
};

/* Mean and standard deviation of each query's similarity over the corpus
 * sample (c->sample): mu[nq], sd[nq]. mu is the "resembles everything"
 * measure of aed_frame_select_opts.generic. */
int aed_mine_corpus_stats(const struct aed_mine_corpus *c, const float *q, int nq, int d,
			  float *mu, float *sd);

/* q: nq unit query vectors. Fills out[0..*n_out-1] (caller's array of k),
 * best first; ties broken by segment number. The pool scored exactly is
 * each query's nearest frames and, with nq > 1 (unless o->no_score_query),
 * AED_MINE_SCORE_QUERY_SHARE times as many nearest frames of the score
 * query: sum_j weight_j q_j / sd_j, normalised (sd_j = 1 for raw scores).
 * A frame's score is (but for the z floor) an increasing function of its
 * similarity to that one vector, so its neighbours are the best-scoring
 * frames; each query's own neighbours miss them when many frames are about
 * as near to every query (near-duplicates of a clip). */
int aed_mine_search(const struct aed_mine_corpus *c, const float *q, int nq,
		    const struct aed_mine_search_opts *o, struct aed_mine_hit *out, int *n_out,
		    struct aed_mine_search_stats *stats);

#endif
