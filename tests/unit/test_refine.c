/* test_refine.c - the refinement rules, the frame classifier on synthetic
 * data (separable, XOR for the hidden layer, early stopping), and the refine
 * stage end to end on a synthetic corpus whose event patches are known:
 * trained scores, maxnorm and hysteresis masks, SeCoST soft labels and
 * `eval refine` against strong labels. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/ontology.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"

static uint64_t rng = 12345;

static double uni(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(uni())) * cos(2 * M_PI * uni());
}

static void test_rules(void **state)
{
	const float s[] = { 0.1f, 0.5f, 1.0f, 0.7f, 0.3f, 0.05f, 0.9f };
	uint8_t m[7];

	(void)state;
	assert_int_equal(aed_refine_mask(s, 7, AED_REFINE_MAXNORM, 0.66, 0.25, m), 3);
	assert_memory_equal(m, ((uint8_t[]){ 0, 0, 1, 1, 0, 0, 1 }), 7);
	assert_int_equal(aed_refine_mask(s, 7, AED_REFINE_HYSTERESIS, 0.66, 0.25, m), 5);
	assert_memory_equal(m, ((uint8_t[]){ 0, 1, 1, 1, 1, 0, 1 }), 7);
	/* max-normalised: scaling every score changes nothing */
	float h[7];
	for (int i = 0; i < 7; i++)
		h[i] = s[i] * 0.01f;
	assert_int_equal(aed_refine_mask(h, 7, AED_REFINE_HYSTERESIS, 0.66, 0.25, m), 5);
	const float z[] = { 0, 0, 0 };
	assert_int_equal(aed_refine_mask(z, 3, AED_REFINE_MAXNORM, 0.66, 0.25, m), 0);
}

/* Fine patches of 4 frames every 2: frame f is covered by patches
 * (f - 3) / 2 rounded up .. f / 2. */
static void test_consensus(void **state)
{
	const uint8_t kept[] = { 0, 1, 1, 1, 0 };   /* patches 1..3: frames 2..9 */
	uint8_t f[12];

	(void)state;
	assert_int_equal(aed_fine_patch_count(0, 12), 0);
	assert_int_equal(aed_fine_patch_count(50, 12), 1);
	assert_int_equal(aed_fine_patch_count(96, 12), 1);
	assert_int_equal(aed_fine_patch_count(97, 12), 2);
	assert_int_equal(aed_fine_patch_count(1000, 12), 1 + 76);
	/* all covering patches kept: the intersection, frames 4..7 */
	assert_int_equal(aed_consensus_frames(kept, 5, 2, 4, 1.0, f, 12), 4);
	assert_memory_equal(f, ((uint8_t[]){ 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0 }), 12);
	/* half of them: frames 2..9 (frame 2: patches 0 and 1, one kept);
	 * frames 10 and 11 lie under patch 4, not kept, and position 5, past
	 * the last patch */
	assert_int_equal(aed_consensus_frames(kept, 5, 2, 4, 0.5, f, 12), 8);
	assert_memory_equal(f, ((uint8_t[]){ 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }), 12);
	/* the edges need as many agreeing patches as the middle: with only
	 * patch 0 kept, frames 0 and 1 (patch 0 and position -1) reach a half,
	 * frames 2 and 3 (patches 0 and 1) too; nothing reaches all */
	const uint8_t first[] = { 1, 0, 0, 0, 0 };
	assert_int_equal(aed_consensus_frames(first, 5, 2, 4, 0.5, f, 12), 4);
	assert_int_equal(aed_consensus_frames(first, 5, 2, 4, 1.0, f, 12), 0);
	const uint8_t all[] = { 1, 1, 1, 1, 1 };
	assert_int_equal(aed_consensus_frames(all, 5, 2, 4, 1.0, f, 12), 8); /* frames 2..9 */
	/* consensus takes the hysteresis mask's name */
	enum aed_refine_method m;
	assert_int_equal(aed_refine_method_parse("consensus", &m), 0);
	assert_int_equal(m, AED_REFINE_CONSENSUS);
	assert_string_equal(aed_refine_method_name(m), "consensus");
}

/* The energy gate on 100 frames: background at 10 dB (60 frames outside the
 * mask, median 10), two mask runs. */
static void test_energy_gate(void **state)
{
	enum { N = 100 };
	float level[N];
	uint8_t f[N], want[N];

	(void)state;
	for (int i = 0; i < N; i++)
		level[i] = 10.0f + (i % 2 ? 0.5f : -0.5f); /* median 10 */
	/* run 1, frames 10..39: loud at 15..17 and 30..32 (a 12-frame quiet
	 * gap between), the rest background */
	for (int i = 15; i <= 17; i++)
		level[i] = 20;
	for (int i = 30; i <= 32; i++)
		level[i] = 18;
	/* run 2, frames 70..79: no frame loud enough for a 5 dB margin */
	memset(f, 0, N);
	memset(f + 10, 1, 30);
	memset(f + 70, 1, 10);
	/* margin 5 dB, gaps under 20 frames bridged: run 1 becomes 15..32 (the
	 * first to the last loud frame, the 12-frame gap bridged) */
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 0, 20), 18 + 10);
	memset(want, 0, N);
	memset(want + 15, 1, 18);
	memset(want + 70, 1, 10); /* nothing loud: the run stays whole */
	assert_memory_equal(f, want, N);
	/* gaps of 12 quiet frames not bridged when max_gap is 12 */
	memset(f, 0, N);
	memset(f + 10, 1, 30);
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 0, 12), 6);
	memset(want, 0, N);
	memset(want + 15, 1, 3);
	memset(want + 30, 1, 3);
	assert_memory_equal(f, want, N);
	/* margin 0: the background's upper half counts as loud too, so the
	 * run keeps its odd frames 11..39 bridged: 11..39 */
	memset(f, 0, N);
	memset(f + 10, 1, 30);
	assert_int_equal(aed_energy_gate(level, N, f, 0.0, 0, 5), 29);
	/* an empty mask stays empty; a full mask has no outside frames and
	 * takes the median of all (10.5): 15..32 again */
	memset(f, 0, N);
	assert_int_equal(aed_energy_gate(level, N, f, 0.0, 0, 30), 0);
	memset(f, 1, N);
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 0, 30), 18);
	/* the peak limit: run 1 peaks at 20 dB; within 1.5 dB of it only
	 * 15..17 stay (the 18 dB burst is 2 dB down: kept with a 3 dB limit,
	 * bridged to the first over the 12-frame gap only when it is shorter
	 * than max_gap); the background margin alone keeps 30..32 too */
	memset(f, 0, N);
	memset(f + 10, 1, 30);
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 1.5, 12), 3);
	memset(want, 0, N);
	memset(want + 15, 1, 3);
	assert_memory_equal(f, want, N);
	memset(f, 0, N);
	memset(f + 10, 1, 30);
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 3.0, 12), 6);
	/* a limit below the background margin changes nothing: 10 dB under
	 * the peak is the background, the 5 dB margin still rules */
	memset(f, 0, N);
	memset(f + 10, 1, 30);
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 10.0, 20), 18);
	/* each run has its own peak: run 2 (no loud frame for the margin) is
	 * still kept whole, and a quieter run elsewhere keeps its own top */
	memset(f, 0, N);
	memset(f + 70, 1, 10);
	for (int i = 74; i <= 75; i++)
		level[i] = 16;
	assert_int_equal(aed_energy_gate(level, N, f, 5.0, 1.5, 12), 2);
	assert_true(f[74] && f[75] && !f[73] && !f[76]);
}

/* Two Gaussian classes 2 sd apart along a random direction in 32 dims. */
static void test_logistic(void **state)
{
	enum { N = 2000, D = 32 };
	float *x = malloc(N * D * sizeof *x), y[N], p[N];
	uint8_t ho[N];
	struct aed_clf *m = NULL;
	struct aed_clf_report rep;
	struct aed_clf_opts o = { .max_epochs = 40, .lr = 1e-2, .seed = 7 };

	(void)state;
	for (int i = 0; i < N; i++) {
		y[i] = (float)(i % 2);
		ho[i] = i % 5 == 0;
		for (int j = 0; j < D; j++)
			x[i * D + j] = (float)(gauss() + (j < 4 ? 1.0 * y[i] : 0) + 3.0);
	}
	assert_int_equal(aed_clf_train(x, N, D, y, 1, NULL, ho, &o, &m, &rep), AED_OK);
	assert_int_equal(aed_clf_predict(m, x, N, p), AED_OK);
	int right = 0;
	for (int i = 0; i < N; i++)
		right += (p[i] >= 0.5f) == (y[i] > 0);
	/* Bayes accuracy of a 2-sd separation: Phi(1) = 0.841 */
	assert_true(right > 0.80 * N);
	assert_true(rep.best_epoch >= 1 && rep.best_epoch <= rep.epochs);
	assert_int_equal(rep.n_heldout, N / 5);
	print_message("held-out loss %.4f after %d epochs (best %d)\n", rep.heldout_loss, rep.epochs, rep.best_epoch);
	assert_true(rep.heldout_loss < 0.45);
	aed_clf_free(&m);
	assert_null(m);
	/* positive weight 4: more positives predicted */
	float w = 4;
	assert_int_equal(aed_clf_train(x, N, D, y, 1, &w, ho, &o, &m, &rep), AED_OK);
	assert_int_equal(aed_clf_predict(m, x, N, p), AED_OK);
	int pos = 0;
	for (int i = 0; i < N; i++)
		pos += p[i] >= 0.5f;
	assert_true(pos > 0.6 * N);
	aed_clf_free(&m);
	/* negative targets are left out: rows shifted the wrong way by 5 sd
	 * with target -1 change nothing the classifier learns */
	for (int i = 0; i < N; i += 3) {
		y[i] = -1;
		for (int j = 0; j < 4; j++)
			x[i * D + j] += (float)(i % 2 ? -5 : 5);
	}
	assert_int_equal(aed_clf_train(x, N, D, y, 1, NULL, ho, &o, &m, &rep), AED_OK);
	assert_int_equal(aed_clf_predict(m, x, N, p), AED_OK);
	right = 0;
	int counted = 0;
	for (int i = 0; i < N; i++)
		if (y[i] >= 0) {
			right += (p[i] >= 0.5f) == (y[i] > 0);
			counted++;
		}
	assert_true(right > 0.80 * counted);
	aed_clf_free(&m);
	free(x);
}

/* XOR needs the hidden layer. */
static void test_mlp_xor(void **state)
{
	enum { N = 2000, D = 2 };
	float x[N * D], y[N], p[N];
	struct aed_clf *m = NULL;
	struct aed_clf_report rep;
	struct aed_clf_opts o = { .hidden = 16, .max_epochs = 200, .lr = 1e-2, .batch = 64 };

	(void)state;
	for (int i = 0; i < N; i++) {
		double a = uni() * 2 - 1, b = uni() * 2 - 1;
		x[i * D] = (float)a;
		x[i * D + 1] = (float)b;
		y[i] = (a > 0) != (b > 0);
	}
	assert_int_equal(aed_clf_train(x, N, D, y, 1, NULL, NULL, &o, &m, &rep), AED_OK);
	assert_int_equal(rep.epochs, 200); /* nothing held out: no early stop */
	assert_int_equal(aed_clf_predict(m, x, N, p), AED_OK);
	int right = 0;
	for (int i = 0; i < N; i++)
		right += (p[i] >= 0.5f) == (y[i] > 0);
	assert_true(right > 0.9 * N);
	aed_clf_free(&m);
	/* logistic regression cannot: near chance */
	o.hidden = 0;
	assert_int_equal(aed_clf_train(x, N, D, y, 1, NULL, NULL, &o, &m, &rep), AED_OK);
	assert_int_equal(aed_clf_predict(m, x, N, p), AED_OK);
	right = 0;
	for (int i = 0; i < N; i++)
		right += (p[i] >= 0.5f) == (y[i] > 0);
	assert_true(right < 0.7 * N);
	aed_clf_free(&m);
	assert_int_equal(aed_clf_train(x, N, 0, y, 1, NULL, NULL, &o, &m, &rep), AED_EUSAGE);
}

/* --- end to end on a synthetic corpus ------------------------------------------- */

static char dir[256], dbpath[300];

#define NSEG 60
#define NPATCH 20
#define DIM 1024
#define NBG 8

static const char *ONTO =
	"[{\"id\": \"/x/root\", \"name\": \"Root\", \"child_ids\": [\"/x/gun\", \"/x/dog\"]},"
	" {\"id\": \"/x/gun\", \"name\": \"Gunshot\"},"
	" {\"id\": \"/x/dog\", \"name\": \"Bark\"},"
	" {\"id\": \"/x/bg\", \"name\": \"Street\"}]";

static void exec(struct aed_db *db, const char *sql)
{
	assert_int_equal(aed_db_exec(db, sql), AED_OK);
}

/* Segments 1..20 hold a gunshot, 21..40 a bark, 41..60 neither; every one
 * is labelled Street. Event patches get the class's direction added. */
static struct aed_db *make_corpus(void)
{
	struct aed_db *db = NULL;
	struct aed_ontology *o = NULL;
	struct aed_ontology_ingest_result res;
	struct aed_array_writer *w = NULL;
	int64_t run, off;
	float *e = malloc(NPATCH * DIM * sizeof *e);
	static float dir_gun[DIM], dir_dog[DIM], dir_bg[NBG][DIM];
	char sql[512];

	assert_int_equal(aed_db_open(dbpath, AED_DB_CREATE, &db), AED_OK);
	assert_int_equal(aed_ontology_parse(ONTO, strlen(ONTO), "test", &o), AED_OK);
	assert_int_equal(aed_ontology_store(db, o, NULL, "test", &res), AED_OK);
	aed_ontology_free(&o);
	for (int j = 0; j < DIM; j++) {
		dir_gun[j] = (float)gauss();
		dir_dog[j] = (float)gauss();
		for (int q = 0; q < NBG; q++)
			dir_bg[q][j] = (float)gauss();
	}
	exec(db, "INSERT INTO split(name) VALUES ('train')");
	assert_int_equal(aed_run_begin(db, "embed", NULL, &run), AED_OK);
	assert_int_equal(aed_array_writer_new(db, "embedding", run, 0, &w), AED_OK);
	for (int s = 1; s <= NSEG; s++) {
		const char *mid = s <= 20 ? "/x/gun" : s <= 40 ? "/x/dog" : NULL;
		double t0 = 0.5 + uni() * 7, len = 0.3 + uni() * 1.2;
		uint8_t ev[NPATCH] = { 0 };
		if (mid)
			aed_intervals_to_patches(&t0, &(double){ t0 + len }, 1, AED_PATCH_HOP_S,
						 AED_PATCH_LEN_S, ev, NPATCH);
		/* Backgrounds vary along a few directions, as real embeddings do,
		 * plus a little noise in every dimension. */
		for (int p = 0; p < NPATCH; p++) {
			double a[NBG];
			for (int q = 0; q < NBG; q++)
				a[q] = 0.5 * gauss();
			for (int j = 0; j < DIM; j++) {
				double v = 0.2 * gauss() + 0.5 * dir_bg[0][j];
				for (int q = 0; q < NBG; q++)
					v += a[q] * dir_bg[q][j];
				if (ev[p])
					v += 0.5 * (s <= 20 ? dir_gun[j] : dir_dog[j]);
				e[p * DIM + j] = (float)v;
			}
		}
		snprintf(sql, sizeof sql, "INSERT INTO segment(id, key, ytid, start_ms, end_ms, "
			 "source_group, shard) VALUES (%d, 'seg%d_0', 'seg%d', 0, 10000, 'seg%d', 0);"
			 "INSERT INTO segment_split VALUES (%d, 1);"
			 "INSERT INTO label SELECT %d, id, 'weak' FROM class WHERE mid = '/x/bg'",
			 s, s, s, s, s, s);
		exec(db, sql);
		if (mid) {
			snprintf(sql, sizeof sql, "INSERT INTO label SELECT %d, id, 'weak' FROM class "
				 "WHERE mid = '%s'; INSERT INTO strong_label SELECT %d, id, %.3f, %.3f "
				 "FROM class WHERE mid = '%s'", s, mid, s, t0, t0 + len, mid);
			exec(db, sql);
		}
		assert_int_equal(aed_array_append(w, e, NPATCH * DIM * sizeof *e, &off), AED_OK);
		assert_int_equal(aed_array_sync(w), AED_OK);
		assert_int_equal(aed_db_begin(db), AED_OK);
		assert_int_equal(aed_array_record(w, s, off, AED_F32, (int64_t[3]){ NPATCH, DIM, 1 }),
				 AED_OK);
		assert_int_equal(aed_array_commit_size(w), AED_OK);
		assert_int_equal(aed_db_commit(db), AED_OK);
	}
	aed_array_writer_free(&w);
	assert_int_equal(aed_run_end(db, run, AED_RUN_OK, NSEG, 0, NULL), AED_OK);
	free(e);
	return db;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s/aedrefine.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_stage(void **state)
{
	struct aed_db *db;
	struct aed_refine_opts o = { .class_name = "Gunshot", .scorer = AED_SCORER_TRAINED,
				     .method = AED_REFINE_HYSTERESIS, .beta = 1 };
	struct aed_refine_result r;
	struct aed_refine_eval_result ev;
	int64_t n;

	(void)state;
	db = make_corpus();
	/* yamnet scorer without scores is refused; so is --class with --all */
	o.all = 1;
	assert_int_equal(aed_refine(db, &o, &r), AED_EUSAGE);
	o.all = 0;
	assert_int_equal(aed_refine(db, &o, &r), AED_OK);
	assert_int_equal(r.n_classes, 1);
	assert_int_equal(r.classes[0].n_segments, 20);
	assert_int_equal(r.classes[0].n_patches, 20 * NPATCH);
	assert_false(r.classes[0].gain_checked); /* no YAMNet scores here */
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM frame_score WHERE scorer = 'trained'",
				    &n), AED_OK);
	assert_int_equal(n, NSEG); /* every segment scored, labelled or not */
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM frame_mask", &n), AED_OK);
	assert_int_equal(n, 40); /* 20 labelled segments x (maxnorm, hysteresis) */
	assert_int_equal(aed_db_int(db, "SELECT sum(n_kept) FROM frame_mask WHERE method = "
				    "'maxnorm'", &n), AED_OK);
	assert_int_equal(n, r.classes[0].n_kept_maxnorm);
	aed_refine_result_release(&r);

	assert_int_equal(aed_eval_refine(db, "/x/gun", NULL, &ev), AED_OK);
	assert_int_equal(ev.n_rows, 3);
	assert_string_equal(ev.rows[0].method, "weak");
	assert_string_equal(ev.rows[1].method, "maxnorm");
	assert_string_equal(ev.rows[2].method, "hysteresis");
	for (size_t k = 0; k < ev.n_rows; k++)
		print_message("%-10s frame P %.3f R %.3f F1 %.3f  segment F1 %.3f ER %.3f\n",
			      ev.rows[k].method, ev.rows[k].frame.precision, ev.rows[k].frame.recall,
			      ev.rows[k].frame.f1, ev.rows[k].seg.f1, ev.rows[k].seg.error_rate);
	/* before: every patch positive, recall 1, precision = event share */
	assert_true(ev.rows[0].frame.recall == 1 && ev.rows[0].frame.precision < 0.3);
	assert_true(ev.rows[2].frame.precision >= 0.85 && ev.rows[2].frame.recall >= 0.8);
	assert_true(ev.rows[2].seg.f1 > ev.rows[0].seg.f1);
	assert_true(ev.rows[2].seg.error_rate < ev.rows[0].seg.error_rate);

	/* The default self-training (aed_refine_opts_init): a partition of
	 * held-out segments, out-of-fold scores and the negatives' quantile. */
	struct aed_refine_opts d;
	aed_refine_opts_init(&d);
	d.class_name = "Gunshot";
	d.method = AED_REFINE_HYSTERESIS;
	d.with_scores = 0;
	assert_true(d.relabel_neg > 0 && d.ensemble > 1);
	d.relabel_neg = 1; /* the max of the negatives: a quantile < 1 is asked */
	assert_int_equal(aed_refine(db, &d, &r), AED_EUSAGE);
	d.relabel_neg = AED_REFINE_RELABEL_NEG_DEFAULT;
	assert_int_equal(aed_refine(db, &d, &r), AED_OK);
	assert_true(r.out_of_fold);
	aed_refine_result_release(&r);
	assert_int_equal(aed_db_int(db, "SELECT CAST(round(json_extract(params, '$.relabel_neg') * "
				    "100) AS INT) FROM run WHERE stage = 'refine' ORDER BY id DESC "
				    "LIMIT 1", &n), AED_OK);
	assert_int_equal(n, 90);
	assert_int_equal(aed_eval_refine(db, "/x/gun", NULL, &ev), AED_OK);
	assert_string_equal(ev.rows[2].method, "hysteresis");
	print_message("default hysteresis frame P %.3f R %.3f\n", ev.rows[2].frame.precision,
		      ev.rows[2].frame.recall);
	assert_true(ev.rows[2].frame.precision >= 0.85 && ev.rows[2].frame.recall >= 0.8);
	/* The rule is what ran: the previous one (--relabel-neg 0) and one
	 * classifier (no out-of-fold scores) store other frame scores. */
	assert_int_equal(aed_db_exec(db, "CREATE TEMP TABLE s1 AS SELECT segment_id, class_id, scores FROM "
				     "frame_score WHERE scorer = 'trained'"), AED_OK);
	d.relabel_neg = 0;
	assert_int_equal(aed_refine(db, &d, &r), AED_OK);
	assert_false(r.out_of_fold);
	aed_refine_result_release(&r);
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM s1 JOIN frame_score f USING "
				    "(segment_id, class_id) WHERE f.scorer = 'trained' AND f.scores <> s1.scores",
				    &n), AED_OK);
	assert_true(n > 0);
	d.relabel_neg = AED_REFINE_RELABEL_NEG_DEFAULT;
	d.ensemble = 1;
	assert_int_equal(aed_refine(db, &d, &r), AED_OK);
	assert_false(r.out_of_fold); /* and says so: one classifier has no folds */
	aed_refine_result_release(&r);

	/* SeCoST: two stages, soft labels for every segment */
	double alpha[] = { 0.3 };
	o.class_name = NULL;
	o.all = 1;
	o.secost_stages = 2;
	o.alphas = alpha;
	o.n_alphas = 1;
	o.min_positives = 5;
	assert_int_equal(aed_refine(db, &o, &r), AED_OK);
	/* Root, Gunshot, Bark (Street is on every segment: no negatives) */
	assert_int_equal(r.n_classes, 3);
	assert_int_equal(r.stages, 2);
	aed_refine_result_release(&r);
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM soft_label", &n), AED_OK);
	assert_int_equal(n, 3 * NSEG);
	/* labelled clips' targets carry alpha * 1 at least; unlabelled at most 1 - alpha */
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM soft_label s JOIN class c ON c.id = "
				    "s.class_id WHERE c.mid = '/x/gun' AND ((s.segment_id <= 20 AND "
				    "s.target < 0.3) OR (s.segment_id > 20 AND s.target > 0.7))", &n),
			 AED_OK);
	assert_int_equal(n, 0);
	/* the last stage's frame scores rank the clips: eval scores --scorer trained */
	struct aed_eval_scores_opts eo = { .split = "train", .scorer = AED_SCORER_TRAINED };
	struct aed_eval_scores_result er;
	assert_int_equal(aed_eval_scores(db, &eo, &er), AED_OK);
	assert_int_equal(er.n_segments, NSEG);
	assert_int_equal(er.n_classes, 3);
	for (size_t k = 0; k < er.n_classes; k++) {
		print_message("%s AP %.3f AUC %.3f\n", er.classes[k].mid, er.classes[k].ap,
			      er.classes[k].auc);
		assert_true(er.classes[k].auc > 0.9);
	}
	aed_eval_scores_result_release(&er);
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM run WHERE stage = 'refine' AND "
				    "outcome = 'ok'", &n), AED_OK);
	assert_int_equal(n, 5); /* the refused options began no run */
	aed_db_free(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_consensus),
		cmocka_unit_test(test_energy_gate),
		cmocka_unit_test(test_logistic),
		cmocka_unit_test(test_mlp_xor),
		cmocka_unit_test_setup_teardown(test_stage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
