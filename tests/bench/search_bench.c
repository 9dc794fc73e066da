/* search_bench.c - b05: index build and mining query time over N patch
 * vectors (default 1,000,000 x 1024), exact ("Flat") against the "auto"
 * index, and recall@100 of auto against exact. The vectors are real YAMNet
 * embeddings of a database (every 'embedding' array), tiled segment by
 * segment with Gaussian noise until N: segment j copies real segment
 * j mod R, each of its frames plus noise of norm ~0.5, then L2-normalised.
 * The mining query is the real thing: 5 real exemplar segments of one class
 * (meta "class"), their frames selected as `mine` does, multi-query search
 * with z scores, k = 100.
 *   search_bench DB CLASS [N] [dump.f32]
 * Prints key=value lines for b05-search.sh. dump.f32: the real vectors, for
 * the NumPy peer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define K 100

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static inline double urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (rs >> 11) * (1.0 / 9007199254740992.0);
}
static inline float gauss(void)
{
	double u = urand() + 1e-12, v = urand();
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* CPU seconds of the process, all threads: with the machine shared, wall
 * time overstates what the work costs; both are printed. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "search_bench: %s: %s\n", what, aed_last_error());
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: search_bench DB CLASS [N] [dump.f32]\n");
		return 2;
	}
	int64_t N = argc > 3 ? atoll(argv[3]) : 1000000;
	const int d = 1024;
	struct aed_db *db;
	if (aed_db_open(argv[1], 0, &db))
		die("open");

	/* Real segments and their frames. */
	int64_t nseg_real = 0, nreal = 0;
	aed_db_int(db, "SELECT count(*) FROM embedding WHERE n_patches > 0", &nseg_real);
	aed_db_int(db, "SELECT sum(n_patches) FROM embedding", &nreal);
	float *real = malloc((size_t)nreal * d * sizeof *real);
	int64_t *rfirst = malloc((size_t)(nseg_real + 1) * sizeof *rfirst);
	int64_t *rid = malloc((size_t)nseg_real * sizeof *rid);
	sqlite3_stmt *st;
	aed_db_prepare(db, "SELECT segment_id FROM embedding WHERE n_patches > 0 ORDER BY segment_id", &st);
	int64_t s = 0, off = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct aed_array a;
		rid[s] = sqlite3_column_int64(st, 0);
		if (aed_array_get(db, "embedding", rid[s], &a))
			die("array");
		rfirst[s++] = off;
		memcpy(real + off * d, a.data, a.nbytes);
		off += a.dims[0];
		aed_array_release(&a);
	}
	sqlite3_finalize(st);
	rfirst[s] = off;
	aed_l2_normalize(real, nreal, d);
	if (argc > 4) {
		FILE *f = fopen(argv[4], "wb");
		fwrite(real, sizeof *real, (size_t)nreal * d, f);
		fclose(f);
	}

	/* Exemplars: 5 real segments of the class, from different recordings. */
	int64_t ex[5];
	int nex = 0;
	aed_db_prepare(db, "SELECT s.id FROM segment s JOIN embedding e ON e.segment_id = s.id WHERE "
			   "json_extract(s.meta, '$.class') = ?1 AND json_extract(s.meta, '$.salience') "
			   "= '1' GROUP BY s.source_group ORDER BY s.id LIMIT 5", &st);
	sqlite3_bind_text(st, 1, argv[2], -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		ex[nex++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (nex < 2) {
		fprintf(stderr, "search_bench: fewer than 2 segments of class %s\n", argv[2]);
		return 1;
	}

	/* The tiled corpus: segment j = real segment j mod R + noise. */
	double t0 = aed_now();
	float *x = malloc((size_t)N * d * sizeof *x);
	int64_t cap = N / 4 + 2, nseg = 0;
	int64_t *first = malloc((size_t)cap * sizeof *first);
	if (!x || !first) {
		fprintf(stderr, "search_bench: out of memory for %lld vectors\n", (long long)N);
		return 1;
	}
	const float sigma = 0.5f / 32.0f; /* per dimension: noise norm ~0.5 */
	/* Gaussian noise from a table read at random offsets: a billion
	 * log/cos calls would dominate the run. */
	enum { TAB = 1 << 22 };
	float *tab = malloc((size_t)TAB * sizeof *tab);
	for (int i = 0; i < TAB; i++)
		tab[i] = sigma * gauss();
	int64_t v = 0;
	for (int64_t j = 0; v < N; j++) {
		int64_t r = j % nseg_real, np = rfirst[r + 1] - rfirst[r];
		if (np > N - v)
			np = N - v;
		if (nseg + 1 >= cap) {
			cap *= 2;
			first = realloc(first, (size_t)cap * sizeof *first);
		}
		first[nseg++] = v;
		for (int64_t p = 0; p < np; p++, v++) {
			const float *src = real + (rfirst[r] + p) * d;
			const float *nz = tab + (size_t)(urand() * (TAB - d));
			float *dst = x + v * d;
			for (int i = 0; i < d; i++)
				dst[i] = src[i] + nz[i];
		}
	}
	first[nseg] = v;
	free(tab);
	aed_l2_normalize(x, N, d);
	printf("vectors=%lld segments=%lld real_vectors=%lld real_segments=%lld gen_s=%.1f\n",
	       (long long)N, (long long)nseg, (long long)nreal, (long long)nseg_real, aed_now() - t0);

	/* Exemplar frames -> queries, as `mine` selects them. */
	int64_t nf = 0;
	for (int e = 0; e < nex; e++) {
		int64_t r = 0;
		while (rid[r] != ex[e])
			r++;
		nf += rfirst[r + 1] - rfirst[r];
	}
	float *F = malloc((size_t)nf * d * sizeof *F), *gen = malloc((size_t)nf * sizeof *gen),
	      *sdv = malloc((size_t)nf * sizeof *sdv);
	int *fex = malloc((size_t)nf * sizeof *fex);
	nf = 0;
	for (int e = 0; e < nex; e++) {
		int64_t r = 0;
		while (rid[r] != ex[e])
			r++;
		for (int64_t p = rfirst[r]; p < rfirst[r + 1]; p++, nf++) {
			memcpy(F + nf * d, real + p * d, d * sizeof *F);
			fex[nf] = e;
		}
	}
	int64_t ns = 20000;
	float *sample = malloc((size_t)ns * d * sizeof *sample);
	for (int64_t i = 0; i < ns; i++)
		memcpy(sample + i * d, x + (i * N / ns) * d, d * sizeof *sample);
	struct aed_mine_corpus c = { .n_segments = nseg, .first_vec = first, .sample = sample,
				     .n_sample = ns };
	if (aed_mine_corpus_stats(&c, F, (int)nf, d, gen, sdv))
		die("stats");
	struct aed_frame_select_opts so = { .seed = 1234, .generic = gen, .spread = sdv,
					   .generic_drop = -1 };
	struct aed_frame_selection sel;
	if (aed_mine_select_frames(F, fex, nf, d, nex, &so, &sel))
		die("select");
	float *q = malloc((size_t)sel.n_kept * d * sizeof *q);
	int nq = 0;
	for (int64_t i = 0; i < nf; i++)
		if (sel.kept[i])
			memcpy(q + (size_t)nq++ * d, F + i * d, d * sizeof *q);
	printf("class=%s exemplars=%d frames=%lld queries=%d\n", argv[2], nex, (long long)nf, nq);

	/* Exact. */
	struct aed_vindex *flat, *ivf;
	t0 = aed_now();
	if (aed_vindex_new("Flat", d, &flat) || aed_vindex_add(flat, N, x))
		die("flat");
	double flat_build = aed_now() - t0;
	struct aed_mine_search_opts mo = { .k = K, .score = AED_MINE_SCORE_Z };
	struct aed_mine_hit hf[K], hi[K];
	struct aed_mine_search_stats sf, si;
	int nhf, nhi;
	c.ix = flat;
	if (aed_mine_search(&c, q, nq, &mo, hf, &nhf, &sf)) /* warm-up: page in */
		die("search flat");
	double c0 = cpu_now();
	if (aed_mine_search(&c, q, nq, &mo, hf, &nhf, &sf))
		die("search flat");
	double exact_cpu = cpu_now() - c0;
	float *kf_s = malloc((size_t)nq * K * sizeof *kf_s), *ki_s = malloc((size_t)nq * K * sizeof *ki_s);
	int64_t *kf = malloc((size_t)nq * K * sizeof *kf), *ki = malloc((size_t)nq * K * sizeof *ki);
	if (aed_vindex_search(flat, nq, q, K, kf_s, kf))
		die("knn flat");
	printf("exact_factory=Flat exact_build_s=%.2f exact_query_s=%.3f exact_query_cpu_s=%.3f "
	       "exact_pooled_frames=%lld\n", flat_build, sf.seconds, exact_cpu,
	       (long long)sf.pooled_frames);
	aed_vindex_free(&flat);

	/* Auto: IVF trained on a sample. */
	char fac[AED_VINDEX_FACTORY_MAX];
	aed_vindex_auto_factory(N, fac);
	t0 = aed_now();
	if (aed_vindex_new(fac, d, &ivf))
		die("ivf");
	int64_t nl = aed_vindex_nlist(ivf), nt = nl ? aed_vindex_train_size(nl) : 0;
	if (nt > N)
		nt = N;
	float *tr = malloc((size_t)(nt ? nt : 1) * d * sizeof *tr);
	for (int64_t i = 0; i < nt; i++)
		memcpy(tr + i * d, x + (i * N / nt) * d, d * sizeof *tr);
	if (aed_vindex_train(ivf, nt, tr))
		die("train");
	double train_s = aed_now() - t0;
	free(tr);
	if (aed_vindex_add(ivf, N, x))
		die("add");
	double ivf_build = aed_now() - t0;
	int nprobe = nl ? aed_vindex_default_nprobe(nl) : 0;
	/* The default nprobe last (it is what "auto" reports), smaller ones
	 * first to show the trade-off. */
	int probes[3] = { nprobe / 4, nprobe / 2, nprobe };
	for (int pi = nl ? 0 : 2; pi < 3; pi++) {
		if (probes[pi] < 1)
			continue;
		aed_vindex_set_nprobe(ivf, probes[pi]);
		c.ix = ivf;
		if (aed_mine_search(&c, q, nq, &mo, hi, &nhi, &si))
			die("search ivf");
		double c0 = cpu_now();
		if (aed_mine_search(&c, q, nq, &mo, hi, &nhi, &si))
			die("search ivf");
		double auto_cpu = cpu_now() - c0;
		double tk = aed_now();
		if (aed_vindex_search(ivf, nq, q, K, ki_s, ki))
			die("knn ivf");
		tk = aed_now() - tk;
		/* recall@100 of the raw neighbours, per query, and of the candidates. */
		int64_t found = 0;
		for (int a = 0; a < nq; a++)
			for (int i = 0; i < K; i++)
				for (int j = 0; j < K; j++)
					if (ki[a * K + i] == kf[a * K + j]) {
						found++;
						break;
					}
		int cf = 0;
		for (int i = 0; i < nhi; i++)
			for (int j = 0; j < nhf; j++)
				if (hi[i].segment == hf[j].segment) {
					cf++;
					break;
				}
		printf("%sauto_factory=%s nprobe=%d train_vectors=%lld train_s=%.2f auto_build_s=%.2f "
		       "auto_query_s=%.3f auto_query_cpu_s=%.3f knn100_s=%.3f auto_pooled_frames=%lld "
		       "recall_knn100=%.4f recall_candidates100=%.4f\n", pi < 2 ? "# " : "", fac,
		       probes[pi], (long long)nt, train_s, ivf_build, si.seconds, auto_cpu, tk,
		       (long long)si.pooled_frames, (double)found / (nq * K),
		       nhf ? (double)cf / nhf : 0.0);
	}
	aed_vindex_free(&ivf);
	aed_frame_selection_release(&sel);
	free(x);
	free(real);
	free(first);
	free(rfirst);
	free(rid);
	free(F);
	free(gen);
	free(sdv);
	free(fex);
	free(sample);
	free(q);
	free(kf);
	free(ki);
	free(kf_s);
	free(ki_s);
	aed_db_free(&db);
	return 0;
}
