/* test_mine_stage.c - the index and mine stages over a synthetic store (no
 * audio, no model file): embeddings written through the array store, the
 * index built and extended, the vector map, a planted event mined with its
 * time, exclusions, the queue rows, and the refusals (empty corpus, no
 * exemplar, stale index, another model's index). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define D 1024
#define PER 8     /* patches per segment */

static uint64_t rs = 0xD1B54A32D192ED03ull;
static double urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (rs >> 11) * (1.0 / 9007199254740992.0);
}
static float gauss(void)
{
	double u = urand() + 1e-12, v = urand();
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

struct fixture {
	char dir[64], path[128];
	struct aed_db *db;
	float target[D], common[D];
};

static void exec_ok(struct aed_db *db, const char *sql)
{
	if (aed_db_exec(db, sql))
		fail_msg("%s: %s", sql, aed_last_error());
}

/* Segments first..first+n-1; segment ids with a bark at patch 5 in `barks`. */
static void embed_segments(struct fixture *f, int first, int n, int model_id, const int *barks,
			   int nbarks)
{
	int64_t run;
	struct aed_array_writer *w;
	float *x = malloc(sizeof(float) * PER * D), bg[D];
	assert_int_equal(aed_run_begin(f->db, "embed", NULL, &run), AED_OK);
	assert_int_equal(aed_array_writer_new(f->db, "embedding", run, 0, &w), AED_OK);
	int64_t *off = malloc(sizeof(int64_t) * n);
	for (int s = 0; s < n; s++) {
		int id = first + s, bark = 0;
		for (int b = 0; b < nbarks; b++)
			bark |= barks[b] == id;
		/* ReLU-like positive embeddings: a part every frame shares (as
		 * YAMNet's do), the segment's own background (sparse, random),
		 * noise; the bark is another sparse direction. */
		for (int j = 0; j < D; j++)
			bg[j] = fabsf(gauss()) * (urand() < 0.1);
		for (int p = 0; p < PER; p++)
			for (int j = 0; j < D; j++) {
				float v = 0.6f * f->common[j] + bg[j] + 0.2f * fabsf(gauss());
				if (bark && p == 5)
					v = 0.6f * f->common[j] + 0.3f * bg[j] + f->target[j] +
					    0.2f * fabsf(gauss());
				x[p * D + j] = v;
			}
		assert_int_equal(aed_array_append(w, x, sizeof(float) * PER * D, &off[s]), AED_OK);
	}
	assert_int_equal(aed_array_sync(w), AED_OK);
	assert_int_equal(aed_db_begin(f->db), AED_OK);
	for (int s = 0; s < n; s++) {
		int64_t dims[3] = { PER, D, 1 };
		char sql[256];
		assert_int_equal(aed_array_record(w, first + s, off[s], AED_F32, dims), AED_OK);
		snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO embedding(segment_id, model_id, n_patches, "
			 "run_id) VALUES (%d, %d, %d, %lld)", first + s, model_id, PER, (long long)run);
		exec_ok(f->db, sql);
	}
	assert_int_equal(aed_array_commit_size(w), AED_OK);
	assert_int_equal(aed_db_commit(f->db), AED_OK);
	aed_array_writer_free(&w);
	aed_run_end(f->db, run, AED_RUN_OK, n, 0, NULL);
	free(x);
	free(off);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/aedtest_mineXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(aed_db_open(f->path, AED_DB_CREATE, &f->db), AED_OK);
	for (int j = 0; j < D; j++) {
		f->target[j] = fabsf(gauss()) * (urand() < 0.1);
		f->common[j] = fabsf(gauss());
	}
	exec_ok(f->db, "INSERT INTO class(id, mid, name) VALUES (1, '/m/bark', 'Bark'), "
		       "(2, '/m/other', 'Other'); INSERT INTO class_closure VALUES (1, 1, 0), (2, 2, 0);"
		       "INSERT INTO model(id, name, sha256, path, embed_dim, n_classes, patch_frames, "
		       "patch_hop, quantized, macs, added_at) VALUES (1, 'yamnet', 'aaaa', '/m', 1024, "
		       "521, 96, 48, 1, 1, 'now'), (2, 'yamnet', 'bbbb', '/m2', 1024, 521, 96, 48, 1, "
		       "1, 'now')");
	/* 200 segments; source groups of 2 (ids 2k-1 and 2k share one). */
	struct aed_buf b = { 0 };
	for (int i = 1; i <= 200; i++)
		aed_buf_printf(&b, "%sINSERT INTO segment(id, key, ytid, start_ms, source_group, shard) "
			       "VALUES (%d, 'seg%d_0', 'seg%d', 0, 'g%d', 0)", i > 1 ? ";" : "", i, i, i,
			       (i + 1) / 2);
	exec_ok(f->db, b.data);
	aed_buf_release(&b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	aed_db_free(&f->db);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd)) {
	}
	free(f);
	return 0;
}

static int rank_of(const struct aed_mine_result *r, int64_t seg)
{
	for (int i = 0; i < r->n_candidates; i++)
		if (r->candidates[i].segment_id == seg)
			return r->candidates[i].rank;
	return 0;
}

static void test_index_and_mine(void **state)
{
	struct fixture *f = *state;
	struct aed_index_build_opts bo = { 0 };
	struct aed_index_build_result br;
	struct aed_index_status st;
	struct aed_mine_result r;
	const char *ex[3] = { "seg10_0", "seg20_0", "seg30_0" };
	struct aed_mine_opts mo = { .class_name = "Bark", .exemplars = ex, .n_exemplars = 3,
				    .k = 20, .select = { .generic_drop = -1, .seed = 1 } };

	/* Empty corpus. */
	assert_int_equal(aed_index_build(f->db, &bo, &br), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "corpus is empty"));
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_ENOTFOUND);

	/* Barks at patch 5 (2.40 s) of 10, 20, 30 (the exemplars), 9 (same
	 * recording as 10: groups pair 2k-1 with 2k), 77, 150. */
	int barks[6] = { 10, 20, 30, 9, 77, 150 };
	embed_segments(f, 1, 150, 1, barks, 6);
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_ENOTFOUND); /* no index yet */
	assert_non_null(strstr(aed_last_error(), "index build"));
	assert_int_equal(aed_index_build(f->db, &bo, &br), AED_OK);
	assert_true(br.rebuilt);
	assert_string_equal(br.factory, "Flat");
	assert_int_equal(br.n_vectors, 150 * PER);
	assert_int_equal(br.n_segments, 150);
	int64_t n;
	aed_db_int(f->db, "SELECT count(*) FROM vec_map WHERE segment_id = 77 AND patch = 5 AND "
			  "vec_id = 76 * 8 + 5", &n);
	assert_int_equal(n, 1);

	/* Incremental: 50 more segments, one bark. */
	int more[1] = { 190 };
	embed_segments(f, 151, 50, 1, more, 1);
	assert_int_equal(aed_index_status(f->db, NULL, &st), AED_OK);
	assert_int_equal(st.pending_segments, 50);
	assert_int_equal(aed_index_build(f->db, &bo, &br), AED_OK);
	assert_false(br.rebuilt);
	assert_int_equal(br.added_segments, 50);
	assert_int_equal(br.n_vectors, 200 * PER);
	assert_int_equal(aed_index_build(f->db, &bo, &br), AED_OK);
	assert_int_equal(br.added_segments, 0);

	/* Mine: the other barks first, at their bark's time; exemplars and
	 * (with exclude_group) their recordings' clips are never candidates. */
	mo.exclude_group = 1;
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_OK);
	assert_int_equal(r.n_exemplars, 3);
	assert_int_equal(r.n_candidates, 20);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rank_of(&r, barks[3 + i]) > 0 || barks[3 + i] == 9, 1);
		assert_int_equal(rank_of(&r, barks[i]), 0);
	}
	assert_int_equal(rank_of(&r, 9), 0); /* same recording as seg10 */
	assert_int_equal(r.sel.n_kept, 3);     /* the three bark frames */
	assert_true(rank_of(&r, 77) <= 3 && rank_of(&r, 150) <= 3 && rank_of(&r, 190) <= 3);
	for (int i = 0; i < 3; i++)
		assert_true(fabs(r.candidates[i].best_time_s - 5 * AED_PATCH_HOP_S) < 1e-9);
	aed_db_int(f->db, "SELECT count(*) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM "
			  "mine_run)", &n);
	assert_int_equal(n, 20);
	aed_db_int(f->db, "SELECT count(*) FROM mine_exemplar WHERE source = 'user'", &n);
	assert_int_equal(n, 3);
	int64_t mr = r.mine_run_id;
	aed_mine_result_release(&r);

	/* Without exclude_group seg9 (a bark) is a candidate, near the top. */
	mo.exclude_group = 0;
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_OK);
	assert_true(rank_of(&r, 9) >= 1 && rank_of(&r, 9) <= 4);
	assert_true(r.mine_run_id > mr);
	aed_mine_result_release(&r);

	/* The mean baseline runs (one query; here the bark is 1 frame in 8 of
	 * each exemplar, so the mean embedding is mostly background). */
	mo.method = AED_MINE_MEAN;
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_OK);
	assert_int_equal(r.n_candidates, 20);
	aed_db_int(f->db, "SELECT count(*) FROM mine_run WHERE method = 'mean'", &n);
	assert_int_equal(n, 1);
	aed_mine_result_release(&r);
	mo.method = AED_MINE_EXEMPLAR;

	/* A verified clip is an exemplar and leaves the queue. */
	exec_ok(f->db, "INSERT INTO label(segment_id, class_id, source) VALUES (77, 1, 'verified')");
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_OK);
	assert_int_equal(r.n_exemplars, 4);
	assert_int_equal(rank_of(&r, 77), 0);
	aed_mine_result_release(&r);

	/* Refusals: unknown class, no exemplar. */
	mo.class_name = "no such class";
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_ENOTFOUND);
	mo.class_name = "Other";
	mo.n_exemplars = 0;
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "no exemplar"));
	mo.class_name = "Bark";
	mo.n_exemplars = 3;

	/* Re-embedding one segment makes the index stale; build rebuilds. */
	int none[1] = { 0 };
	embed_segments(f, 5, 1, 1, none, 0);
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_ESTATE);
	assert_non_null(strstr(aed_last_error(), "stale"));
	assert_int_equal(aed_index_build(f->db, &bo, &br), AED_OK);
	assert_true(br.rebuilt);
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_OK);
	aed_mine_result_release(&r);

	/* Another model's embeddings: the index is refused. */
	exec_ok(f->db, "UPDATE embedding SET model_id = 2");
	assert_int_equal(aed_mine(f->db, &mo, &r), AED_ESTATE);
	assert_non_null(strstr(aed_last_error(), "another model"));
	assert_int_equal(aed_index_status(f->db, NULL, &st), AED_ESTATE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_and_mine, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
