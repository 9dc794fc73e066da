/* search_bench.c - b05: the "auto" index at N patch vectors of 1024
 * dimensions (default 1,000,000), built in batches as `index build` does,
 * and a mining query as `mine` runs it: the index file memory-mapped, z
 * statistics on a 20,000-vector sample, hits re-ranked exactly.
 *
 * The corpus is never stored: vector v is real YAMNet embedding (segment
 * j mod R of the database, patch p) plus Gaussian noise of norm ~0.5 read
 * from a fixed table at an offset hashed from v, L2-normalised; any vector
 * can be generated again from its id, which is what the exact re-rank does
 * here (in `mine` it reads the stored embedding).
 *
 *   search_bench build DB CLASS N INDEX   generate, train on a strided
 *       sample, add 65,536 at a time, write INDEX; dumps INDEX.real (the
 *       real vectors) for the other modes and the NumPy peer
 *   search_bench mine DB CLASS N INDEX    one mining query: open INDEX
 *       mapped, sample, select frames, search, re-rank (a fresh process per
 *       call, so its time and peak RSS are the whole query's)
 *   search_bench recall DB CLASS N INDEX  recall@100 of the candidates
 *       (a) against an exact re-rank of every vector in the same probed
 *       lists, at N; (b) against exact search (Flat) on the first 200,000
 *       vectors, with the auto compressed index built over those
 *   search_bench db DB CLASS N OUT_DB      b09: makes OUT_DB, a copy of DB
 *       the caller made, a real corpus of N vectors: every tiled segment
 *       beyond DB's own becomes a segment of its own (key "t<copy>-<id>" of
 *       its real segment, whose recording, labels other than the review's,
 *       and model it takes) whose stored embedding is the generated vectors
 *       (CLASS is not read)
 * Prints key=value lines for b05-search.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define K 100
#define D 1024
#define TAB (1 << 22)
#define BATCH 65536
#define SUBSET 200000

static float *real, *tab;
static int64_t ex_real[5]; /* the exemplars' real clip numbers */
static int n_ex_real;
static int64_t nreal, nseg_real, *rfirst, *rid;
static int64_t N, nseg, *first; /* the tiled corpus: segment j = real j mod R */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
}

static void die(const char *what)
{
	fprintf(stderr, "search_bench: %s: %s\n", what, aed_last_error());
	exit(1);
}

/* Segment holding vector v: the last j with first[j] <= v. */
static int64_t seg_of(int64_t v)
{
	int64_t lo = 0, hi = nseg;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (first[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void gen(int64_t v, float *out)
{
	int64_t j = seg_of(v), r = j % nseg_real, p = v - first[j];
	const float *src = real + (rfirst[r] + p) * D;
	const float *nz = tab + mix64((uint64_t)v + 0x9e3779b97f4a7c15ull) % (TAB - D);
	double s = 0;
	for (int i = 0; i < D; i++) {
		out[i] = src[i] + nz[i];
		s += (double)out[i] * out[i];
	}
	float inv = (float)(1.0 / sqrt(s));
	for (int i = 0; i < D; i++)
		out[i] *= inv;
}

static int fetch_gen(void *ctx, int64_t n, const int64_t *ids, float *out)
{
	(void)ctx;
	for (int64_t i = 0; i < n; i++)
		gen(ids[i], out + i * D);
	return AED_OK;
}

/* Real vectors (normalised) and the segment table: from the database, or
 * from the dump the build wrote. */
static void load_real(struct aed_db *db, const char *dump, int write_dump)
{
	sqlite3_stmt *st;
	aed_db_int(db, "SELECT count(*) FROM embedding WHERE n_patches > 0", &nseg_real);
	aed_db_int(db, "SELECT sum(n_patches) FROM embedding", &nreal);
	real = malloc((size_t)nreal * D * sizeof *real);
	rfirst = malloc((size_t)(nseg_real + 1) * sizeof *rfirst);
	rid = malloc((size_t)nseg_real * sizeof *rid);
	aed_db_prepare(db, "SELECT segment_id, n_patches FROM embedding WHERE n_patches > 0 ORDER BY "
			   "segment_id", &st);
	int64_t s = 0, off = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		rid[s] = sqlite3_column_int64(st, 0);
		rfirst[s++] = off;
		off += sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	rfirst[s] = off;
	FILE *f = write_dump ? NULL : fopen(dump, "rb");
	if (f && fread(real, sizeof *real, (size_t)nreal * D, f) == (size_t)nreal * D) {
		fclose(f);
	} else {
		if (f)
			fclose(f);
		for (s = 0; s < nseg_real; s++) {
			struct aed_array a;
			if (aed_array_get(db, "embedding", rid[s], &a))
				die("array");
			memcpy(real + rfirst[s] * D, a.data, a.nbytes);
			aed_array_release(&a);
		}
		aed_l2_normalize(real, nreal, D);
		if ((f = fopen(dump, "wb"))) {
			fwrite(real, sizeof *real, (size_t)nreal * D, f);
			fclose(f);
		}
	}
	/* The noise table and the tiling. */
	tab = malloc((size_t)TAB * sizeof *tab);
	uint64_t rs = 0x2545F4914F6CDD1Dull;
	const float sigma = 0.5f / 32.0f; /* per dimension: noise norm ~0.5 */
	for (int i = 0; i < TAB; i += 2) {
		double u, v;
		rs = mix64(rs + 1);
		u = ((rs >> 11) + 1) * (1.0 / 9007199254740993.0);
		rs = mix64(rs + 1);
		v = (rs >> 11) * (1.0 / 9007199254740992.0);
		tab[i] = sigma * (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
		tab[i + 1] = sigma * (float)(sqrt(-2 * log(u)) * sin(2 * M_PI * v));
	}
	int64_t cap = N / 4 + 2, v = 0;
	first = malloc((size_t)cap * sizeof *first);
	for (int64_t j = 0; v < N; j++) {
		int64_t r = j % nseg_real, np = rfirst[r + 1] - rfirst[r];
		if (np > N - v)
			np = N - v;
		if (nseg + 1 >= cap) {
			cap *= 2;
			first = realloc(first, (size_t)cap * sizeof *first);
		}
		first[nseg++] = v;
		v += np;
	}
	first[nseg] = v;
}

/* b09's corpus: the tiled segments beyond the real ones written into out
 * as segments with stored embeddings, through the array store's protocol,
 * 2,000 segments a transaction. */
static void write_db(struct aed_db *out)
{
	int64_t run_id, done = 0;
	struct aed_array_writer *w = NULL;
	sqlite3_stmt *seg, *lab, *emb;
	json_t *params = json_pack("{s:s, s:I}", "bench", "b09 tiled corpus", "vectors", (json_int_t)N);
	if (aed_run_begin(out, "embed", params, &run_id) ||
	    aed_array_writer_new(out, "embedding", run_id, 0, &w) ||
	    aed_db_prepare(out, "INSERT INTO segment(key, ytid, start_ms, end_ms, path, source_group, "
				"meta, shard) SELECT ?1, 't' || ?2 || '-' || ytid, start_ms, end_ms, path, "
				"source_group, meta, ?3 FROM segment WHERE id = ?4", &seg) ||
	    /* Not the review's labels: a copy is a clip nobody has rated. */
	    aed_db_prepare(out, "INSERT INTO label(segment_id, class_id, source) SELECT ?1, class_id, "
				"source FROM label WHERE segment_id = ?2 AND source NOT IN ('verified', "
				"'review')", &lab) ||
	    aed_db_prepare(out, "INSERT INTO embedding(segment_id, model_id, n_patches, run_id) SELECT "
				"?1, model_id, ?2, ?3 FROM embedding WHERE segment_id = ?4", &emb))
		die("db");
	enum { STEP = 2000 };
	float *v = malloc((size_t)32 * D * sizeof *v);
	int64_t *off = malloc(STEP * sizeof *off);
	if (!v || !off)
		die("out of memory");
	for (int64_t j0 = nseg_real; j0 < nseg; j0 += STEP) {
		int64_t j1 = j0 + STEP < nseg ? j0 + STEP : nseg;
		for (int64_t j = j0; j < j1; j++) {
			int64_t np = first[j + 1] - first[j];
			if (np > 32)
				die("a segment of more than 32 patches");
			for (int64_t p = 0; p < np; p++)
				gen(first[j] + p, v + p * D);
			if (aed_array_append(w, v, (size_t)np * D * sizeof *v, &off[j - j0]))
				die("append");
		}
		if (aed_array_sync(w) || aed_db_begin(out))
			die("sync");
		for (int64_t j = j0; j < j1; j++) {
			int64_t r = j % nseg_real, np = first[j + 1] - first[j], id;
			char key[64];
			snprintf(key, sizeof key, "t%lld-%lld", (long long)(j / nseg_real), (long long)rid[r]);
			sqlite3_bind_text(seg, 1, key, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(seg, 2, j / nseg_real);
			sqlite3_bind_int64(seg, 3, aed_shard_hash(key));
			sqlite3_bind_int64(seg, 4, rid[r]);
			if (sqlite3_step(seg) != SQLITE_DONE)
				die("segment");
			sqlite3_reset(seg);
			id = sqlite3_last_insert_rowid(aed_db_sqlite(out));
			sqlite3_bind_int64(lab, 1, id);
			sqlite3_bind_int64(lab, 2, rid[r]);
			sqlite3_bind_int64(emb, 1, id);
			sqlite3_bind_int64(emb, 2, np);
			sqlite3_bind_int64(emb, 3, run_id);
			sqlite3_bind_int64(emb, 4, rid[r]);
			if (sqlite3_step(lab) != SQLITE_DONE || sqlite3_step(emb) != SQLITE_DONE)
				die("label or embedding");
			sqlite3_reset(lab);
			sqlite3_reset(emb);
			const int64_t dims[3] = { np, D, 1 };
			if (aed_array_record(w, id, off[j - j0], AED_F32, dims))
				die("record");
		}
		if (aed_array_commit_size(w) || aed_db_commit(out))
			die("commit");
		done += j1 - j0;
	}
	sqlite3_finalize(seg);
	sqlite3_finalize(lab);
	sqlite3_finalize(emb);
	aed_array_writer_free(&w);
	free(v);
	free(off);
	if (aed_run_end(out, run_id, AED_RUN_OK, done, 0, NULL))
		die("run end");
	printf("segments=%lld vectors=%lld real_segments=%lld\n", (long long)nseg, (long long)N,
	       (long long)nseg_real);
}

/* Exemplar frames of 5 real segments of the class, selected as `mine` does
 * (z statistics over a sample of whole segments spread over the corpus). */
static int queries(struct aed_db *db, const char *cls, struct aed_mine_corpus *c, float **q,
		   float **sample)
{
	int64_t ex[5];
	int nex = 0;
	sqlite3_stmt *st;
	aed_db_prepare(db, "SELECT s.id FROM segment s JOIN embedding e ON e.segment_id = s.id WHERE "
			   "json_extract(s.meta, '$.class') = ?1 AND json_extract(s.meta, '$.salience') "
			   "= '1' GROUP BY s.source_group ORDER BY s.id LIMIT 5", &st);
	sqlite3_bind_text(st, 1, cls, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		ex[nex++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (nex < 2) {
		fprintf(stderr, "search_bench: fewer than 2 segments of class %s\n", cls);
		exit(1);
	}
	int64_t nf = 0;
	for (int e = 0; e < nex; e++) {
		int64_t r = 0;
		while (rid[r] != ex[e])
			r++;
		nf += rfirst[r + 1] - rfirst[r];
	}
	float *F = malloc((size_t)nf * D * sizeof *F), *gen_ = malloc((size_t)nf * sizeof *gen_),
	      *sdv = malloc((size_t)nf * sizeof *sdv);
	int *fex = malloc((size_t)nf * sizeof *fex);
	nf = 0;
	for (int e = 0; e < nex; e++) {
		int64_t r = 0;
		while (rid[r] != ex[e])
			r++;
		ex_real[n_ex_real++] = r;
		for (int64_t p = rfirst[r]; p < rfirst[r + 1]; p++, nf++) {
			memcpy(F + nf * D, real + p * D, D * sizeof *F);
			fex[nf] = e;
		}
	}
	/* The sample: whole segments spread evenly, as mine.c's corpus_sample. */
	int64_t ns = 20000, per = N / nseg, got = 0;
	int64_t take = (ns + per - 1) / per;
	if (take > nseg)
		take = nseg;
	*sample = malloc((size_t)ns * D * sizeof **sample);
	for (int64_t j = 0; j < take && got < ns; j++) {
		int64_t s = j * nseg / take;
		for (int64_t v = first[s]; v < first[s + 1] && got < ns; v++)
			gen(v, *sample + got++ * D);
	}
	c->sample = *sample;
	c->n_sample = got;
	if (aed_mine_corpus_stats(c, F, (int)nf, D, gen_, sdv))
		die("stats");
	struct aed_frame_select_opts so = { .seed = 1234, .generic = gen_, .spread = sdv,
					   .generic_drop = -1 };
	struct aed_frame_selection sel;
	if (aed_mine_select_frames(F, fex, nf, D, nex, &so, &sel))
		die("select");
	*q = malloc((size_t)sel.n_kept * D * sizeof **q);
	int nq = 0;
	for (int64_t i = 0; i < nf; i++)
		if (sel.kept[i])
			memcpy(*q + (size_t)nq++ * D, F + i * D, D * sizeof **q);
	printf("class=%s exemplars=%d frames=%lld queries=%d sample=%lld\n", cls, nex,
	       (long long)nf, nq, (long long)got);
	aed_frame_selection_release(&sel);
	free(F);
	free(gen_);
	free(sdv);
	free(fex);
	return nq;
}

/* Train on a strided sample, add in batches: never the whole corpus in
 * memory, as `index build` reads segment batches. Vectors [0, n). */
static struct aed_vindex *build(const char *fac, int64_t n, double *train_s)
{
	struct aed_vindex *ix;
	double t0 = aed_now();
	if (aed_vindex_new(fac, D, &ix))
		die("new");
	if (!aed_vindex_is_trained(ix)) {
		int64_t nt = aed_vindex_train_size(aed_vindex_nlist(ix));
		if (nt < 16 * D)
			nt = 16 * D;
		if (nt > n)
			nt = n;
		float *tr = malloc((size_t)nt * D * sizeof *tr);
		for (int64_t i = 0; i < nt; i++)
			gen(i * n / nt, tr + i * D);
		if (aed_vindex_train(ix, nt, tr))
			die("train");
		free(tr);
		printf("train_vectors=%lld ", (long long)nt);
	}
	*train_s = aed_now() - t0;
	float *x = malloc((size_t)BATCH * D * sizeof *x);
	for (int64_t i0 = 0; i0 < n; i0 += BATCH) {
		int64_t m = n - i0 < BATCH ? n - i0 : BATCH;
		for (int64_t i = 0; i < m; i++)
			gen(i0 + i, x + i * D);
		if (aed_vindex_add(ix, m, x))
			die("add");
	}
	free(x);
	return ix;
}

/* The tiled corpus holds N / 14,088 noisy copies of every real patch (710
 * at 10 M): the exemplars' own copies and those of the clips most like
 * them differ only by the added noise, which the PCA mostly drops, so which
 * copy of a clip ranks 100th is decided by noise. Besides the plain recall,
 * the recall of the real clips (segment j is a copy of real clip j mod R)
 * and the ratio of the mean exact scores of the two top-100 lists. */
static double recall_real(const struct aed_mine_hit *a, int na, const struct aed_mine_hit *b,
			  int nb)
{
	int f = 0, nu = 0;
	for (int j = 0; j < nb; j++) {
		int dup = 0;
		for (int i = 0; i < j && !dup; i++)
			dup = b[i].segment % nseg_real == b[j].segment % nseg_real;
		if (dup)
			continue;
		nu++;
		for (int i = 0; i < na; i++)
			if (a[i].segment % nseg_real == b[j].segment % nseg_real) {
				f++;
				break;
			}
	}
	return nu ? (double)f / nu : 0;
}

static double score_ratio(const struct aed_mine_hit *a, int na, const struct aed_mine_hit *b,
			  int nb)
{
	double sa = 0, sb = 0;
	for (int i = 0; i < na; i++)
		sa += a[i].score;
	for (int i = 0; i < nb; i++)
		sb += b[i].score;
	return na && nb ? (sa / na) / (sb / nb) : 0;
}

static double recall_cands(const struct aed_mine_hit *a, int na, const struct aed_mine_hit *b,
			   int nb)
{
	int f = 0;
	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			if (a[i].segment == b[j].segment) {
				f++;
				break;
			}
	return nb ? (double)f / nb : 0;
}

/* With the exemplars' copies excluded (ce): the run's candidates against
 * the reference's, printed as PREFIXrecall_..._excl=. */
static void recall_excluded(const struct aed_mine_corpus *ce, const float *q, int nq,
			    const struct aed_mine_search_opts *run,
			    const struct aed_mine_search_opts *ref, const char *prefix)
{
	struct aed_mine_hit h[K], hx[K];
	int nh, nhx;
	struct aed_mine_search_stats st;
	if (aed_mine_search(ce, q, nq, run, h, &nh, &st) ||
	    aed_mine_search(ce, q, nq, ref, hx, &nhx, &st))
		die("search excluded");
	printf("%srecall_candidates100_vs_probes_excl=%.4f %srecall_clips100_vs_probes_excl=%.4f "
	       "%sscore_ratio_vs_probes_excl=%.4f\n", prefix, recall_cands(h, nh, hx, nhx), prefix,
	       recall_real(h, nh, hx, nhx), prefix, score_ratio(h, nh, hx, nhx));
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: search_bench build|mine|recall|db DB CLASS N INDEX|OUT_DB\n");
		return 2;
	}
	const char *mode = argv[1], *cls = argv[3], *path = argv[5];
	N = atoll(argv[4]);
	char dump[4200];
	snprintf(dump, sizeof dump, "%s.real", path);
	struct aed_db *db;
	if (aed_db_open(argv[2], 0, &db))
		die("open");
	double t0 = aed_now();
	load_real(db, dump, !strcmp(mode, "build"));
	double setup = aed_now() - t0;
	char fac[AED_VINDEX_FACTORY_MAX];
	aed_vindex_auto_factory(N, fac);

	if (!strcmp(mode, "db")) {
		struct aed_db *out;
		if (aed_db_open(path, 0, &out))
			die("open the copy");
		write_db(out);
		aed_db_free(&out);
		remove(dump); /* the real vectors' dump: the other modes' cache, not this one's */
		aed_db_free(&db);
		return 0;
	}
	if (!strcmp(mode, "build")) {
		double train_s;
		t0 = aed_now();
		struct aed_vindex *ix = build(fac, N, &train_s);
		double build_s = aed_now() - t0;
		if (aed_vindex_write(ix, path))
			die("write");
		struct stat sb;
		stat(path, &sb);
		int nprobe = aed_vindex_nlist(ix) ? aed_vindex_default_nprobe(aed_vindex_nlist(ix)) : 0;
		printf("vectors=%lld segments=%lld real_vectors=%lld factory=%s nprobe=%d "
		       "train_s=%.1f build_s=%.1f write_s=%.1f index_bytes=%lld flat_bytes=%lld "
		       "bytes_per_vector=%.1f build_peak_rss_mb=%.0f\n", (long long)N, (long long)nseg,
		       (long long)nreal, fac, nprobe, train_s, build_s, aed_now() - t0 - build_s,
		       (long long)sb.st_size, (long long)N * (D * 4 + 8),
		       (double)sb.st_size / N, peak_rss_mb());
		aed_vindex_free(&ix);
		aed_db_free(&db);
		return 0;
	}

	/* mine / recall: the index mapped, as aed_index_open reads it. */
	t0 = aed_now();
	double c0 = cpu_now();
	struct aed_vindex *ix;
	if (aed_vindex_read_mapped(path, &ix))
		die("read");
	if (aed_vindex_ntotal(ix) != N)
		die("index size");
	int64_t nl = aed_vindex_nlist(ix);
	int nprobe = nl ? aed_vindex_default_nprobe(nl) : 0;
	if (argc > 6 && atoi(argv[6]) > 0)
		nprobe = atoi(argv[6]); /* the trade-off against the default */
	aed_vindex_set_nprobe(ix, nprobe);
	double open_s = aed_now() - t0;
	float *q, *sample;
	struct aed_mine_corpus c = { .ix = ix, .n_segments = nseg, .first_vec = first,
				     .fetch = aed_vindex_exact(ix) ? NULL : fetch_gen };
	int nq = queries(db, cls, &c, &q, &sample);
	struct aed_mine_search_opts mo = { .k = K, .score = AED_MINE_SCORE_Z };
	/* mine ... NPROBE base: the baseline, without the score query */
	mo.no_score_query = argc > 7 && !strcmp(argv[7], "base");
	struct aed_mine_hit h[K], hx[K];
	struct aed_mine_search_stats s, sx;
	int nh, nhx;
	if (aed_mine_search(&c, q, nq, &mo, h, &nh, &s))
		die("search");
	double mine_s = aed_now() - t0;

	if (!strcmp(mode, "mine")) {
		/* A digest of the ranked candidates and their scores: equal across
		 * runs and thread counts when the results are. */
		uint64_t hsh = 1469598103934665603ull, hr = hsh;
		for (int i = 0; i < nh; i++) {
			hsh = mix64(hsh ^ (uint64_t)h[i].segment);
			hsh = mix64(hsh ^ (uint64_t)h[i].patch);
			hr = mix64(hr ^ (uint64_t)h[i].segment);
			uint32_t b;
			memcpy(&b, &h[i].score, sizeof b);
			hsh = mix64(hsh ^ b);
		}
		printf("score_query=%d factory=%s nprobe=%d bench_setup_s=%.2f open_s=%.3f "
		       "search_s=%.3f mine_s=%.3f mine_cpu_s=%.3f pooled_frames=%lld candidates=%d "
		       "ranking_digest=%016llx candidates_digest=%016llx mine_peak_rss_mb=%.0f\n",
		       !mo.no_score_query, fac, nprobe, setup, open_s, s.seconds, mine_s, cpu_now() - c0,
		       (long long)s.pooled_frames, nh, (unsigned long long)hr, (unsigned long long)hsh,
		       peak_rss_mb());
		return 0;
	}

	/* (a) the same probes re-ranked exactly: every vector of the probed
	 * lists (lists hold ~N/nlist; 3x that per probe covers the largest). */
	struct aed_mine_search_opts mx = mo;
	mx.hits_per_query = nl ? 3 * nprobe * (N / nl) : N;
	if (mx.hits_per_query > N)
		mx.hits_per_query = N;
	if (aed_mine_search(&c, q, nq, &mx, hx, &nhx, &sx))
		die("search probes");
	printf("probes_hits_per_query=%lld probes_pooled_frames=%lld "
	       "recall_candidates100_vs_probes=%.4f recall_clips100_vs_probes=%.4f "
	       "score_ratio_vs_probes=%.4f\n", (long long)mx.hits_per_query,
	       (long long)sx.pooled_frames, recall_cands(h, nh, hx, nhx), recall_real(h, nh, hx, nhx),
	       score_ratio(h, nh, hx, nhx));
	/* The baseline, same run: the query frames' own neighbours only,
	 * without the score query's, against an exact re-rank of its own
	 * probes (the lists the query frames probe; the reference above also
	 * holds the score query's). */
	struct aed_mine_search_opts mb = mo, mxb = mx;
	struct aed_mine_hit hb[K], hxb[K];
	int nhb, nhxb;
	mb.no_score_query = mxb.no_score_query = 1;
	if (aed_mine_search(&c, q, nq, &mb, hb, &nhb, &s) ||
	    aed_mine_search(&c, q, nq, &mxb, hxb, &nhxb, &sx))
		die("search baseline");
	printf("base_recall_candidates100_vs_probes=%.4f base_recall_clips100_vs_probes=%.4f "
	       "base_score_ratio_vs_probes=%.4f base_pooled_frames=%lld "
	       "references_agree100=%.4f\n", recall_cands(hb, nhb, hxb, nhxb),
	       recall_real(hb, nhb, hxb, nhxb), score_ratio(hb, nhb, hxb, nhxb),
	       (long long)s.pooled_frames, recall_cands(hxb, nhxb, hx, nhx));
	/* The exemplars' own copies left out, as --exclude-group leaves out an
	 * exemplar's recording: the candidates are then other clips. */
	unsigned char *exc = calloc((size_t)nseg, 1);
	for (int64_t j = 0; j < nseg; j++)
		for (int e = 0; e < n_ex_real; e++)
			exc[j] |= j % nseg_real == ex_real[e];
	struct aed_mine_corpus ce = c;
	ce.excluded = exc;
	recall_excluded(&ce, q, nq, &mo, &mx, "");
	recall_excluded(&ce, q, nq, &mb, &mxb, "base_");
	free(exc);
	/* Fewer probes, against the same reference (the default's probes). */
	for (int div = 2; div <= 4; div *= 2) {
		if (nprobe / div < 1)
			continue;
		aed_vindex_set_nprobe(ix, nprobe / div);
		if (aed_mine_search(&c, q, nq, &mo, h, &nh, &s))
			die("search");
		printf("# nprobe=%d recall_clips100_vs_probes=%.4f score_ratio_vs_probes=%.4f "
		       "recall_candidates100_vs_probes=%.4f\n", nprobe / div, recall_real(h, nh, hx, nhx),
		       score_ratio(h, nh, hx, nhx), recall_cands(h, nh, hx, nhx));
	}
	aed_vindex_free(&ix);

	/* (b) the first 200,000 vectors: the auto compressed index over them
	 * against Flat. */
	int64_t nsub = N < SUBSET ? N : SUBSET, nseg_sub = seg_of(nsub - 1) + 1;
	if (first[nseg_sub] > nsub)
		nseg_sub--; /* whole segments only */
	nsub = first[nseg_sub];
	char sfac[AED_VINDEX_FACTORY_MAX];
	aed_vindex_auto_factory_at(nsub, 0, sfac);
	double train_s;
	struct aed_vindex *sub = build(sfac, nsub, &train_s), *flat = build("Flat", nsub, &train_s);
	int sp = aed_vindex_default_nprobe(aed_vindex_nlist(sub));
	aed_vindex_set_nprobe(sub, sp);
	struct aed_mine_corpus cs = c, cf = c;
	cs.ix = sub;
	cs.n_segments = cf.n_segments = nseg_sub;
	cf.ix = flat;
	cf.fetch = NULL;
	if (aed_mine_search(&cs, q, nq, &mo, h, &nh, &s) || aed_mine_search(&cf, q, nq, &mo, hx, &nhx, &sx))
		die("subset search");
	/* Raw neighbours, per query: the compressed index's kq hits re-ranked
	 * exactly, top 100, against Flat's top 100. */
	int64_t kq = s.hits_per_query;
	float *ss = malloc((size_t)nq * kq * sizeof *ss), *fs = malloc((size_t)nq * K * sizeof *fs);
	int64_t *si = malloc((size_t)nq * kq * sizeof *si), *fi = malloc((size_t)nq * K * sizeof *fi);
	float *v = malloc(D * sizeof *v);
	if (aed_vindex_search(sub, nq, q, kq, ss, si) || aed_vindex_search(flat, nq, q, K, fs, fi))
		die("knn");
	int64_t found = 0;
	for (int a = 0; a < nq; a++) {
		float kth = fs[a * K + K - 1];
		/* A re-ranked hit is in the exact top 100 when its exact score
		 * reaches the 100th exact score (ties count once). */
		int64_t got = 0;
		for (int64_t i = 0; i < kq && got < K; i++) {
			if (si[a * kq + i] < 0)
				continue;
			gen(si[a * kq + i], v);
			double dot = 0;
			for (int j = 0; j < D; j++)
				dot += (double)v[j] * q[(size_t)a * D + j];
			got += dot >= kth - 1e-6;
		}
		found += got;
	}
	printf("subset_vectors=%lld subset_factory=%s subset_nprobe=%d "
	       "recall_knn100_subset=%.4f recall_candidates100_subset=%.4f "
	       "recall_clips100_subset=%.4f recall_peak_rss_mb=%.0f\n",
	       (long long)nsub, sfac, sp, (double)found / (nq * K), recall_cands(h, nh, hx, nhx),
	       recall_real(h, nh, hx, nhx), peak_rss_mb());
	return 0;
}
