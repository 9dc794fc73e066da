/* fuzz_ratings.c - libFuzzer target for the ratings file parser (the JSON
 * that review pages export and `review import` reads, src/format/ratings.c),
 * the page-time check and the <script>-safe escaping (the review stage's page
 * writer). A parsed file is walked to check that every entry is either
 * well-formed or carries a reason, that no candidate is accepted twice and
 * that no good entry answers not_present while adding the class judged as a
 * label. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/ratings.h"
#include "aedcurate/review.h"

static void check(const struct aed_ratings *r)
{
	size_t i, k;

	if (!r->export_id[0] || !r->checksum[0] || !r->class_mid[0] || !r->annotator[0] ||
	    strlen(r->annotator) > AED_RATINGS_MAX_ANNOTATOR || r->n > AED_RATINGS_MAX_ENTRIES)
		abort();
	for (i = 0; i < r->n; i++) {
		const struct aed_rating_entry *e = &r->entries[i];

		if (e->index != i + 1 || !e->candidate || !e->comment || !e->time)
			abort();
		if (e->bad) {
			if (!e->bad[0])
				abort();
			continue;
		}
		if (!e->candidate[0] || (unsigned)e->answer >= AED_ANSWER_COUNT ||
		    !aed_review_time_valid(e->time) || strlen(e->comment) > AED_RATINGS_MAX_COMMENT ||
		    e->n_labels > AED_RATINGS_MAX_LABELS)
			abort();
		for (k = 0; k < e->n_labels; k++)
			if (!e->labels[k] || !e->labels[k][0] ||
			    (e->answer == AED_ANSWER_NOT_PRESENT && !strcmp(e->labels[k], r->class_mid)))
				abort(); /* a contradiction passed as good */
		/* good entries name distinct candidates (bounded: quadratic) */
		for (k = 0; k < i && i < 512; k++)
			if (!r->entries[k].bad && !strcmp(r->entries[k].candidate, e->candidate))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aed_ratings *r = NULL;
	char *text, *esc = NULL;

	if (aed_ratings_parse((const char *)data, size, "fuzz.json", &r) == AED_OK) {
		if (!r)
			abort();
		check(r);
		aed_ratings_free(&r);
	} else if (r) {
		abort();
	}
	/* The same bytes as a C string: time check and escaping. */
	if (!(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	(void)aed_review_time_valid(text);
	if (aed_review_script_escape(text, &esc) == AED_OK) {
		if (strchr(esc, '<') || strchr(esc, '>') || strchr(esc, '&') || strstr(esc, "\xe2\x80\xa8"))
			abort();
		free(esc);
	}
	free(text);
	return 0;
}
