/* test_metrics.c - AP, ROC AUC, d', EER, P/R/F1, sed_eval segment measures and
 * the patch/time conversions against values computed by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aedcurate/metrics.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* Ranked: + + - + - - + -  (4 positives, 4 negatives). */
static const float S8[] = { 0.9f, 0.8f, 0.7f, 0.6f, 0.55f, 0.5f, 0.4f, 0.3f };
static const uint8_t Y8[] = { 1, 1, 0, 1, 0, 0, 1, 0 };

static void test_ap(void **state)
{
	(void)state;
	/* precision at each positive: 1, 1, 3/4, 4/7 */
	NEAR(aed_average_precision(S8, Y8, 8), (1 + 1 + 0.75 + 4.0 / 7) / 4);
	/* order of the input does not matter */
	const float s[] = { 0.3f, 0.9f, 0.55f, 0.8f, 0.4f, 0.7f, 0.6f, 0.5f };
	const uint8_t y[] = { 0, 1, 0, 1, 1, 0, 1, 0 };
	NEAR(aed_average_precision(s, y, 8), (1 + 1 + 0.75 + 4.0 / 7) / 4);
	/* tied scores enter together: P = 1/2 at R = 1 */
	const float t[] = { 0.5f, 0.5f, 0.2f };
	const uint8_t ty[] = { 1, 0, 0 };
	NEAR(aed_average_precision(t, ty, 3), 0.5);
	const uint8_t none[] = { 0, 0, 0 };
	assert_true(isnan(aed_average_precision(t, none, 3)));
}

/* A mining queue of 12, positives at ranks 1, 3, 4, 8 and 12, and one more
 * positive in the pool that was never ranked (6 in all):
 *   rank: 1 2 3 4 5 6 7 8 9 10 11 12
 *   rel:  + - + + - - - + -  -  -  +
 * P@1 = 1; P@4 = 3/4; P@10 = 4/10 = 0.4; P@50 = 5/50 = 0.1 (the list is
 * shorter than 50: the missing ranks are misses).
 * Precision at each ranked positive: 1/1, 2/3, 3/4, 4/8, 5/12;
 * AP over the 5 ranked = (1 + 0.666667 + 0.75 + 0.5 + 0.416667) / 5
 *                      = 3.333333 / 5 = 0.666667;
 * AP over the pool's 6 (the unranked one adds 0) = 3.333333 / 6 = 0.555556. */
static void test_ranked(void **state)
{
	(void)state;
	static const uint8_t rel[12] = { 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1 };
	NEAR(aed_ranked_precision_at(rel, 12, 1), 1.0);
	NEAR(aed_ranked_precision_at(rel, 12, 4), 0.75);
	NEAR(aed_ranked_precision_at(rel, 12, 10), 0.4);
	NEAR(aed_ranked_precision_at(rel, 12, 50), 0.1);
	NEAR(aed_ranked_average_precision(rel, 12, 5), (1 + 2.0 / 3 + 0.75 + 0.5 + 5.0 / 12) / 5);
	NEAR(aed_ranked_average_precision(rel, 12, 5), 2.0 / 3);
	NEAR(aed_ranked_average_precision(rel, 12, 6), 5.0 / 9);
	/* all positives first: AP 1 whatever follows */
	static const uint8_t top[5] = { 1, 1, 0, 0, 0 };
	NEAR(aed_ranked_average_precision(top, 5, 2), 1.0);
	assert_true(isnan(aed_ranked_average_precision(top, 5, 0)));
}

static void test_auc_dprime(void **state)
{
	(void)state;
	/* positives above each negative: 2, 3, 3, 4 of 4 */
	NEAR(aed_roc_auc(S8, Y8, 8), 12.0 / 16);
	NEAR(aed_dprime(0.75), sqrt(2.0) * 0.6744897501960817);
	NEAR(aed_dprime(0.5), 0);
	NEAR(aed_norm_ppf(0.975), 1.959963984540054);
	NEAR(aed_norm_ppf(1e-6), -4.753424308822899);
	assert_true(isinf(aed_dprime(1.0)) && aed_dprime(1.0) > 0);
	const float t[] = { 0.5f, 0.5f, 0.2f };
	const uint8_t ty[] = { 1, 0, 0 };
	NEAR(aed_roc_auc(t, ty, 3), 0.75); /* one tie (1/2) and one win */
	const uint8_t all[] = { 1, 1, 1 };
	assert_true(isnan(aed_roc_auc(t, all, 3)));
}

static void test_eer(void **state)
{
	(void)state;
	/* ROC: (0,.75) (0,.5) (.25,.5) (.25,.25): FNR = FPR = 1/4 */
	NEAR(aed_equal_error_rate(S8, Y8, 8), 0.25);
	/* crossing inside a segment: (FPR 0, FNR .5) to (1, .5) gives 1/2 */
	const float s[] = { 0.9f, 0.8f, 0.7f };
	const uint8_t y[] = { 1, 0, 1 };
	NEAR(aed_equal_error_rate(s, y, 3), 0.5);
	/* perfect separation */
	const uint8_t p[] = { 1, 1, 0 };
	NEAR(aed_equal_error_rate(s, p, 3), 0);
}

static void test_prf(void **state)
{
	struct aed_prf p;

	(void)state;
	aed_prf_at(S8, Y8, 8, 0.6, &p);
	assert_int_equal(p.tp, 3);
	assert_int_equal(p.fp, 1);
	assert_int_equal(p.fn, 1);
	assert_int_equal(p.tn, 3);
	NEAR(p.precision, 0.75);
	NEAR(p.recall, 0.75);
	NEAR(p.f1, 0.75);
	const uint8_t pred[] = { 1, 1, 0, 0, 1 }, ref[] = { 1, 0, 0, 1, 1 };
	aed_prf_masks(pred, ref, 5, &p);
	NEAR(p.precision, 2.0 / 3);
	NEAR(p.recall, 2.0 / 3);
	aed_prf_at(S8, Y8, 8, 2.0, &p); /* nothing predicted */
	assert_true(isnan(p.precision));
	NEAR(p.recall, 0);
	NEAR(p.f1, 0);
}

static void test_segment_based(void **state)
{
	struct aed_segment_eval e = { 0 };

	(void)state;
	/* segment 1: substitution; segment 2: one deletion */
	const uint8_t r1[] = { 1, 0 }, s1[] = { 0, 1 }, r2[] = { 1, 1 }, s2[] = { 1, 0 };
	aed_segment_eval_add(&e, r1, s1, 2);
	aed_segment_eval_add(&e, r2, s2, 2);
	aed_segment_eval_finish(&e);
	assert_int_equal(e.s, 1);
	assert_int_equal(e.d, 1);
	assert_int_equal(e.i, 0);
	NEAR(e.precision, 0.5);
	NEAR(e.recall, 1.0 / 3);
	NEAR(e.f1, 0.4);
	NEAR(e.error_rate, 2.0 / 3);
	/* an insertion-only segment */
	const uint8_t r3[] = { 0, 0 }, s3[] = { 1, 1 };
	aed_segment_eval_add(&e, r3, s3, 2);
	aed_segment_eval_finish(&e);
	NEAR(e.error_rate, 4.0 / 3);
}

static void test_time_conversions(void **state)
{
	uint8_t f[8];
	double a[8], b[8];
	size_t n;

	(void)state;
	const double st[] = { 0.5, 2.0 }, en[] = { 1.2, 2.5 };
	aed_intervals_to_segments(st, en, 2, 1.0, f, 4);
	assert_memory_equal(f, ((uint8_t[]){ 1, 1, 1, 0 }), 4);
	/* a 0.3 s event inside patches 1 and 2 */
	const double s1[] = { 1.0 }, e1[] = { 1.3 };
	aed_intervals_to_patches(s1, e1, 1, AED_PATCH_HOP_S, AED_PATCH_LEN_S, f, 5);
	assert_memory_equal(f, ((uint8_t[]){ 0, 1, 1, 0, 0 }), 5);
	/* a long event must half-fill a patch: [1.44, 2.4) overlaps 0.4 s only */
	const double s2[] = { 2.0 }, e2[] = { 7.0 };
	aed_intervals_to_patches(s2, e2, 1, AED_PATCH_HOP_S, AED_PATCH_LEN_S, f, 6);
	assert_memory_equal(f, ((uint8_t[]){ 0, 0, 0, 0, 1, 1 }), 6);
	/* the collar: patches 0 and 3 overlap [1.0, 1.3) too little */
	const double s3[] = { 0.9 }, e3[] = { 1.5 };
	uint8_t amb[6];
	aed_intervals_to_patches(s3, e3, 1, AED_PATCH_HOP_S, AED_PATCH_LEN_S, f, 6);
	assert_memory_equal(f, ((uint8_t[]){ 0, 1, 1, 0, 0, 0 }), 6);
	aed_patches_ambiguous(s3, e3, 1, AED_PATCH_HOP_S, AED_PATCH_LEN_S, f, amb, 6);
	assert_memory_equal(amb, ((uint8_t[]){ 1, 0, 0, 1, 0, 0 }), 6);
	struct aed_prf p;
	const uint8_t pred[] = { 1, 1, 1, 1, 0, 1 };
	aed_prf_masks_skip(pred, f, amb, 6, &p); /* patch 5 is the only counted FP */
	assert_int_equal(p.tp, 2);
	assert_int_equal(p.fp, 1);
	assert_int_equal(p.tn, 1);
	aed_prf_masks_skip(pred, f, NULL, 6, &p);
	assert_int_equal(p.fp, 3);
	const uint8_t m[] = { 1, 1, 0, 1 };
	aed_patches_to_intervals(m, 4, AED_PATCH_HOP_S, AED_PATCH_LEN_S, 2.4, a, b, &n);
	assert_int_equal(n, 2);
	NEAR(a[0], 0);
	NEAR(b[0], 1.2);
	NEAR(a[1], 1.68);
	NEAR(b[1], 2.4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ap),
		cmocka_unit_test(test_ranked),
		cmocka_unit_test(test_auc_dprime),
		cmocka_unit_test(test_eer),
		cmocka_unit_test(test_prf),
		cmocka_unit_test(test_segment_based),
		cmocka_unit_test(test_time_conversions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
