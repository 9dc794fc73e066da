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
 * Ownership: aed_vindex_new/read return an index the caller frees with
 * aed_vindex_free(&ix). Output arrays are the caller's. Every function
 * returns an enum aed_status and records FAISS's message on failure.
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

#endif
