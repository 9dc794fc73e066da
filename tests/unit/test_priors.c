/* test_priors.c - positive-example weights (mean prior / prior)^beta on a
 * hand-computed case with AudioSet's extreme spread of priors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aedcurate/refine.h"

static void test_weights(void **state)
{
	const double prior[] = { 0.5, 0.1, 0, 0.0001 };
	double w[4], mean;

	(void)state;
	aed_prior_weights(prior, 4, 1.0, w, &mean);
	/* mean over the non-zero priors: 0.6001 / 3 */
	assert_true(fabs(mean - 0.6001 / 3) < 1e-12);
	assert_true(fabs(w[0] - 0.6001 / 3 / 0.5) < 1e-12);
	assert_true(fabs(w[1] - 0.6001 / 3 / 0.1) < 1e-12);
	assert_true(w[2] == 0);
	assert_true(fabs(w[3] - 2000.3333333333) < 1e-6);
	aed_prior_weights(prior, 4, 0.5, w, NULL);
	assert_true(fabs(w[3] - sqrt(2000.3333333333)) < 1e-6);
	aed_prior_weights(prior, 4, 0.0, w, NULL);
	assert_true(w[0] == 1 && w[1] == 1 && w[2] == 0 && w[3] == 1);
	/* nothing carried: no weights, mean 0 */
	const double none[] = { 0, 0 };
	aed_prior_weights(none, 2, 1.0, w, &mean);
	assert_true(mean == 0 && w[0] == 0 && w[1] == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weights),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
