/* faiss.c - the vector index and k-means over FAISS's C API (search.h).
 * Only this file includes FAISS; everything above it sees struct aed_vindex. */
#include <cblas.h>
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Clustering_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVFFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/IndexPreTransform_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "aedcurate/error.h"
#include "aedcurate/search.h"

struct aed_vindex {
	FaissIndex *index;
	int l2; /* METRIC_L2 (a PCA index): distances are turned into similarities */
};

/* faiss::IO_FLAG_MMAP of index_io.h (IO_FLAG_SKIP_IVF_DATA | "od" in the
 * high bits): the inverted lists stay in the file, mapped read-only, and a
 * search pages in only the lists it probes. The C API's FAISS_IO_FLAG_MMAP
 * (1) is not that flag in FAISS 1.7.3, so the C++ value is spelt here. */
#define FAISS_CXX_IO_FLAG_MMAP (8 | 0x646f0000)

/* The IVF inside the index: itself, or the one under a pre-transform. */
static FaissIndexIVF *ivf_of(FaissIndex *index)
{
	FaissIndexIVF *ivf = faiss_IndexIVF_cast(index);
	if (ivf)
		return ivf;
	FaissIndexPreTransform *pt = faiss_IndexPreTransform_cast(index);
	return pt ? faiss_IndexIVF_cast(faiss_IndexPreTransform_index(pt)) : NULL;
}

/* FAISS reports C++ exceptions as a non-zero return and a message. */
static int faiss_fail(int status, const char *what)
{
	const char *m = faiss_get_last_error();
	/* FAISS messages carry a multi-line stack context; keep the first line. */
	char buf[512];
	snprintf(buf, sizeof buf, "%s", m ? m : "unknown error");
	char *nl = strchr(buf, '\n'), *msg = buf;
	if (nl)
		*nl = 0;
	/* "Error in <C++ signature> at ./faiss/x.cpp:879: what went wrong" */
	char *at = strstr(buf, ".cpp:");
	if (!strncmp(buf, "Error in ", 9) && at && (at = strstr(at, ": ")))
		msg = at + 2;
	return aed_error(status, "%s: %s", what, msg);
}

/* Some FAISS C API calls write their exception to stderr themselves; the
 * message is returned through aed_error instead, so stderr is pointed at
 * /dev/null around them. Returns the saved descriptor (-1: nothing done). */
static int quiet_begin(void)
{
	fflush(stderr);
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved < 0 || devnull < 0 || dup2(devnull, 2) < 0) {
		if (saved >= 0)
			close(saved);
		saved = -1;
	}
	if (devnull >= 0)
		close(devnull);
	return saved;
}

static void quiet_end(int saved)
{
	if (saved < 0)
		return;
	dup2(saved, 2);
	close(saved);
}

/* The power of two nearest sqrt(n), within [lo, 65536], and at most n/39
 * (FAISS's k-means wants 39 training vectors per list). */
static int64_t auto_nlist(int64_t n, int64_t lo)
{
	int64_t nlist = 1;
	double r = sqrt((double)n);
	while (nlist < 65536 && (nlist < lo || fabs(log2((double)nlist * 2) - log2(r)) <
				 fabs(log2((double)nlist) - log2(r))))
		nlist *= 2;
	while (nlist > 1 && nlist * 39 > n)
		nlist /= 2;
	return nlist;
}

/* One BLAS thread around FAISS's training, adds and searches: threaded
 * OpenBLAS (ssyrk and syev of the PCA, the sgemm of list assignment) rounds
 * differently with the thread count, which changed the PCA, near-tie list
 * assignments and so the whole index file between 1 and 2 threads. FAISS's
 * own OpenMP loops (k-means assignment and centroid sums, adds to the lists,
 * scanning them) give the same result for any thread count: with one BLAS
 * thread the file is byte-identical at 1 and 2 OpenMP threads (b05). */
static int blas1_begin(void)
{
	int bt = openblas_get_num_threads();
	openblas_set_num_threads(1);
	return bt;
}

static void blas1_end(int bt)
{
	openblas_set_num_threads(bt);
}

void aed_vindex_auto_factory_at(int64_t n, int64_t exact_max, char buf[AED_VINDEX_FACTORY_MAX])
{
	if (n < exact_max) {
		snprintf(buf, AED_VINDEX_FACTORY_MAX, "Flat");
		return;
	}
	/* 256 lists at least at the default threshold (as measured by b05);
	 * a lowered threshold (tests) lets a small corpus have fewer. */
	snprintf(buf, AED_VINDEX_FACTORY_MAX, "PCA%d,IVF%lld,SQ8", AED_VINDEX_PCA_DIM,
		 (long long)auto_nlist(n, n >= AED_VINDEX_AUTO_EXACT_MAX ? 256 : 1));
}

void aed_vindex_auto_factory(int64_t n, char buf[AED_VINDEX_FACTORY_MAX])
{
	aed_vindex_auto_factory_at(n, AED_VINDEX_AUTO_EXACT_MAX, buf);
}

int aed_vindex_default_nprobe(int64_t nlist)
{
	/* 1/64 of the lists: on tiled YAMNet embeddings (b05-search) recall@100
	 * against exact was 0.995 at 1/64 and 0.96 at 1/128 of 512 lists, and
	 * 1.0 at 1/32 of 1024; a few tens of thousands of vectors per query. */
	int64_t p = nlist / 64;
	if (p < 8)
		p = 8;
	if (p > nlist)
		p = nlist;
	return (int)p;
}

int64_t aed_vindex_train_size(int64_t nlist)
{
	return 40 * nlist;
}

/* Set when FAISS's scalar quantizer was compiled for AVX2, FMA and F16C
 * and linked in place of Debian's (src/build/build_faiss_sq.sh). */
extern const int aed_faiss_sq_simd __attribute__((weak));

/* That code must not run on a CPU without those instructions: a binary
 * built on one machine and copied to an older one. */
static int cpu_check(void)
{
	if (!&aed_faiss_sq_simd)
		return AED_OK;
	unsigned a, b, c, d;
	__builtin_cpu_init();
	/* F16C by CPUID (leaf 1, ECX bit 29): not every compiler's
	 * __builtin_cpu_supports knows it. */
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	    __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)))
		return AED_OK;
	return aed_error(AED_ESTATE, "this aedcurate was built with FAISS's scalar quantizer for "
			 "AVX2, FMA and F16C (src/build/build_faiss_sq.sh), which this CPU lacks; "
			 "build it again on this machine: make clean && make");
}

int aed_vindex_new(const char *factory, int dim, struct aed_vindex **out)
{
	int rc;
	*out = NULL;
	if ((rc = cpu_check()))
		return rc;
	if (dim <= 0)
		return aed_error(AED_EUSAGE, "vector index: dimension %d", dim);
	struct aed_vindex *ix = calloc(1, sizeof *ix);
	if (!ix)
		return aed_error(AED_ENOMEM, "out of memory");
	/* A PCA centres the vectors, which changes inner products by a term
	 * that depends on the vector; L2 distances survive it, and on unit
	 * vectors they rank as inner products do. */
	ix->l2 = strstr(factory, "PCA") != NULL;
	int q = quiet_begin();
	int bad = faiss_index_factory(&ix->index, dim, factory,
				      ix->l2 ? METRIC_L2 : METRIC_INNER_PRODUCT);
	quiet_end(q);
	if (bad) {
		free(ix);
		char what[200];
		snprintf(what, sizeof what, "FAISS factory string '%s'", factory);
		return faiss_fail(AED_EUSAGE, what);
	}
	/* Exact storage keeps a direct map for aed_vindex_reconstruct; a
	 * compressed one is re-ranked from the stored embeddings instead. */
	FaissIndexIVF *ivf = faiss_IndexIVFFlat_cast(ix->index) ? faiss_IndexIVF_cast(ix->index)
								: NULL;
	if (ivf && faiss_IndexIVF_make_direct_map(ivf, 1)) {
		aed_vindex_free(&ix);
		return faiss_fail(AED_EINTERNAL, "FAISS direct map");
	}
	*out = ix;
	return AED_OK;
}

void aed_vindex_free(struct aed_vindex **ix)
{
	if (!ix || !*ix)
		return;
	if ((*ix)->index)
		faiss_Index_free((*ix)->index);
	free(*ix);
	*ix = NULL;
}

int aed_vindex_dim(const struct aed_vindex *ix) { return faiss_Index_d(ix->index); }
int64_t aed_vindex_ntotal(const struct aed_vindex *ix) { return faiss_Index_ntotal(ix->index); }
int aed_vindex_is_trained(const struct aed_vindex *ix) { return faiss_Index_is_trained(ix->index); }

int aed_vindex_exact(const struct aed_vindex *ix)
{
	return faiss_IndexFlat_cast(ix->index) || faiss_IndexIVFFlat_cast(ix->index);
}

int64_t aed_vindex_nlist(const struct aed_vindex *ix)
{
	FaissIndexIVF *ivf = ivf_of(ix->index);
	return ivf ? (int64_t)faiss_IndexIVF_nlist(ivf) : 0;
}

int aed_vindex_train(struct aed_vindex *ix, int64_t n, const float *x)
{
	if (faiss_Index_is_trained(ix->index))
		return AED_OK;
	if (n <= 0)
		return aed_error(AED_ESTATE, "vector index needs training vectors, got none");
	int bt = blas1_begin();
	int bad = faiss_Index_train(ix->index, n, x);
	blas1_end(bt);
	if (bad)
		return faiss_fail(AED_EINTERNAL, "FAISS training");
	return AED_OK;
}

int aed_vindex_add(struct aed_vindex *ix, int64_t n, const float *x)
{
	if (n <= 0)
		return AED_OK;
	if (!faiss_Index_is_trained(ix->index))
		return aed_error(AED_ESTATE, "vector index is not trained; train it before adding");
	int bt = blas1_begin();
	int bad = faiss_Index_add(ix->index, n, x);
	blas1_end(bt);
	if (bad)
		return faiss_fail(AED_EINTERNAL, "FAISS add");
	return AED_OK;
}

int aed_vindex_set_nprobe(struct aed_vindex *ix, int nprobe)
{
	if (nprobe <= 0)
		return AED_OK;
	FaissIndexIVF *ivf = ivf_of(ix->index);
	if (ivf) {
		faiss_IndexIVF_set_nprobe(ivf, (size_t)nprobe);
		return AED_OK;
	}
	/* IVF inside a pre-transform or refinement: FAISS's parameter space
	 * finds it. Exact indexes have no nprobe, and that is fine. */
	FaissParameterSpace *ps = NULL;
	if (faiss_ParameterSpace_new(&ps))
		return faiss_fail(AED_EINTERNAL, "FAISS parameter space");
	char buf[32];
	snprintf(buf, sizeof buf, "nprobe=%d", nprobe);
	(void)faiss_ParameterSpace_set_index_parameters(ps, ix->index, buf);
	faiss_ParameterSpace_free(ps);
	return AED_OK;
}

int aed_vindex_search(struct aed_vindex *ix, int64_t nq, const float *q, int64_t k,
		      float *sims, int64_t *ids)
{
	if (nq <= 0 || k <= 0)
		return AED_OK;
	int bt = blas1_begin();
	int bad = faiss_Index_search(ix->index, nq, q, k, sims, (idx_t *)ids);
	blas1_end(bt);
	if (bad)
		return faiss_fail(AED_EINTERNAL, "FAISS search");
	/* Squared L2 between unit vectors is 2 - 2 cos: the same order. After a
	 * PCA it is an estimate; callers re-rank exactly. */
	if (ix->l2)
		for (int64_t i = 0; i < nq * k; i++)
			sims[i] = ids[i] < 0 ? -INFINITY : 1.0f - sims[i] / 2.0f;
	return AED_OK;
}

int aed_vindex_reconstruct(struct aed_vindex *ix, int64_t id, float *out)
{
	if (id < 0 || id >= faiss_Index_ntotal(ix->index))
		return aed_error(AED_EINTERNAL, "vector id %lld outside the index", (long long)id);
	if (faiss_Index_reconstruct(ix->index, id, out))
		return faiss_fail(AED_ESTATE, "FAISS reconstruct (choose a factory with Flat "
				  "or scalar-quantised storage)");
	return AED_OK;
}

int aed_vindex_write(const struct aed_vindex *ix, const char *path)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return aed_error(AED_EIO, "%s: path too long", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
	int rc = AED_OK;
	if (faiss_write_index(ix->index, f)) {
		rc = faiss_fail(AED_EIO, tmp);
		fclose(f);
		goto fail;
	}
	if (fflush(f) || fsync(fileno(f))) {
		rc = aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
		fclose(f);
		goto fail;
	}
	if (fclose(f)) {
		rc = aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path)) {
		rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return AED_OK;
fail:
	unlink(tmp);
	return rc;
}

static int vindex_read(const char *path, int flags, struct aed_vindex **out)
{
	int rc;
	*out = NULL;
	if ((rc = cpu_check()))
		return rc;
	if (access(path, R_OK))
		return aed_error(AED_ENOTFOUND, "%s: %s", path, strerror(errno));
	struct aed_vindex *ix = calloc(1, sizeof *ix);
	if (!ix)
		return aed_error(AED_ENOMEM, "out of memory");
	int q = quiet_begin();
	int bad = faiss_read_index_fname(path, flags, &ix->index);
	quiet_end(q);
	if (bad) {
		free(ix);
		return faiss_fail(AED_EFORMAT, path);
	}
	FaissMetricType mt = faiss_Index_metric_type(ix->index);
	ix->l2 = mt == METRIC_L2 && faiss_IndexPreTransform_cast(ix->index);
	if (mt != METRIC_INNER_PRODUCT && !ix->l2) {
		aed_vindex_free(&ix);
		return aed_error(AED_EFORMAT, "%s: not an inner-product index", path);
	}
	*out = ix;
	return AED_OK;
}

int aed_vindex_read(const char *path, struct aed_vindex **out)
{
	return vindex_read(path, 0, out);
}

int aed_vindex_read_mapped(const char *path, struct aed_vindex **out)
{
	/* Only IVF lists can be mapped; FAISS refuses the flag for nothing
	 * else, but reading a Flat index that way is the same as reading it. */
	return vindex_read(path, FAISS_CXX_IO_FLAG_MMAP, out);
}

void aed_l2_normalize(float *x, int64_t n, int d)
{
	for (int64_t i = 0; i < n; i++) {
		float *v = x + i * d;
		double s = 0;
		for (int j = 0; j < d; j++)
			s += (double)v[j] * v[j];
		if (s > 0) {
			float inv = (float)(1.0 / sqrt(s));
			for (int j = 0; j < d; j++)
				v[j] *= inv;
		}
	}
}

int aed_kmeans(int d, int64_t n, int k, const float *x, int niter, int seed, int spherical,
	       float *centroids, int *assign)
{
	FaissClustering *cl = NULL;
	FaissIndexFlat *q = NULL;
	float *dist = NULL;
	idx_t *lab = NULL;
	int rc = AED_OK;

	if (k <= 0 || n < k)
		return aed_error(AED_EUSAGE, "k-means: %d clusters for %lld vectors", k, (long long)n);
	FaissClusteringParameters cp;
	faiss_ClusteringParameters_init(&cp);
	cp.niter = niter > 0 ? niter : 25;
	cp.nredo = 5; /* best of 5 initialisations: random starts can merge clusters */
	cp.seed = seed;
	cp.spherical = spherical;
	cp.verbose = 0;
	cp.min_points_per_centroid = 1; /* small exemplar sets are the normal case */
	cp.max_points_per_centroid = 1 << 30;
	if (faiss_Clustering_new_with_params(&cl, d, k, &cp)) {
		rc = faiss_fail(AED_EINTERNAL, "FAISS clustering");
		goto out;
	}
	if (faiss_IndexFlat_new_with(&q, d, spherical ? METRIC_INNER_PRODUCT : METRIC_L2)) {
		rc = faiss_fail(AED_EINTERNAL, "FAISS flat index");
		goto out;
	}
	/* One BLAS thread, as for the index: FAISS's OpenMP loops and
	 * OpenBLAS's threads waiting on each other on two cores took 2-3 x
	 * as long (mine at 10 M: 0.8-1.2 s of k-means against 0.45 s). */
	int bt = blas1_begin();
	int bad = faiss_Clustering_train(cl, n, x, q);
	blas1_end(bt);
	if (bad) {
		rc = faiss_fail(AED_EINTERNAL, "FAISS k-means");
		goto out;
	}
	if (centroids) {
		float *c;
		size_t sz;
		faiss_Clustering_centroids(cl, &c, &sz);
		if (sz != (size_t)k * d) {
			rc = aed_error(AED_EINTERNAL, "k-means returned %zu centroid values", sz);
			goto out;
		}
		memcpy(centroids, c, sz * sizeof *c);
	}
	if (assign) {
		/* The quantiser holds the final centroids: nearest one per vector. */
		dist = malloc((size_t)n * sizeof *dist);
		lab = malloc((size_t)n * sizeof *lab);
		if (!dist || !lab) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		if (faiss_Index_search(q, n, x, 1, dist, lab)) {
			rc = faiss_fail(AED_EINTERNAL, "FAISS k-means assignment");
			goto out;
		}
		for (int64_t i = 0; i < n; i++)
			assign[i] = (int)lab[i];
	}
out:
	free(dist);
	free(lab);
	if (q)
		faiss_Index_free(q);
	if (cl)
		faiss_Clustering_free(cl);
	return rc;
}
