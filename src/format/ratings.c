/* ratings.c - the ratings file parser (format in ratings.h): the JSON the
 * review page downloads, read into memory and checked entry by entry, with
 * the answer names and the page's time format. The human verdict on a mined
 * candidate on its way to a shard; pure, no database: checking a file against
 * the exports and storing it is the review stage (src/stage/review/import.c). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aedcurate/error.h"
#include "aedcurate/ratings.h"
#include "aedcurate/util.h"

static const char *const answer_names[AED_ANSWER_COUNT] = {
	"present", "not_present", "unsure", "not_acoustic"
};

const char *aed_answer_name(enum aed_answer a)
{
	return (unsigned)a < AED_ANSWER_COUNT ? answer_names[a] : "?";
}

int aed_answer_parse(const char *s, enum aed_answer *out)
{
	for (int i = 0; i < AED_ANSWER_COUNT; i++)
		if (!strcmp(s, answer_names[i])) {
			*out = (enum aed_answer)i;
			return AED_OK;
		}
	return aed_error(AED_EFORMAT, "unknown answer \"%s\" (present, not_present, unsure, "
			 "not_acoustic)", s);
}

/* Parse "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" to microseconds since 1970; -1 if
 * the text is not such a time. */
int64_t aed_review_time_us(const char *s)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, used = 0, digits = 0;
	int64_t frac = 0;
	const char *p;

	if (!s || strlen(s) < 20)
		return -1;
	for (int i = 0; i < 19; i++) {
		char c = s[i];
		int want_digit = !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16);

		if (want_digit ? (c < '0' || c > '9')
			       : c != (i == 10 ? 'T' : (i < 10 ? '-' : ':')))
			return -1;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
	    used != 19)
		return -1;
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 6)
				frac = frac * 10 + (*p - '0');
		if (digits == 0 || digits > 9)
			return -1;
		for (; digits < 6; digits++)
			frac *= 10;
	}
	if (p[0] != 'Z' || p[1] != 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm) * 1000000 + frac;
}

int aed_review_time_valid(const char *s)
{
	return aed_review_time_us(s) >= 0;
}

/* --- ratings file ---------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* A short printable excerpt of untrusted text for messages. */
void aed_ratings_excerpt(const char *s, char out[96])
{
	size_t i = 0;

	for (; s && *s && i < 90; s++)
		out[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	if (s && *s)
		out[i - 1] = '~';
	out[i] = 0;
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void entry_release(struct aed_rating_entry *e)
{
	for (size_t i = 0; i < e->n_labels; i++)
		free(e->labels[i]);
	free(e->labels);
	free(e->candidate);
	free(e->comment);
	free(e->time);
	free(e->bad);
}

void aed_ratings_free(struct aed_ratings **r)
{
	if (!r || !*r)
		return;
	for (size_t i = 0; i < (*r)->n; i++)
		entry_release(&(*r)->entries[i]);
	free((*r)->entries);
	free((*r)->export_id);
	free((*r)->checksum);
	free((*r)->class_mid);
	free((*r)->annotator);
	free((*r)->exported_at);
	free(*r);
	*r = NULL;
}

static int set_bad(struct aed_rating_entry *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int set_bad(struct aed_rating_entry *e, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	if (e->bad)
		return AED_OK;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m)
		return aed_error(AED_ENOMEM, "out of memory");
	e->bad = m;
	return AED_OK;
}

/* Fill e from the JSON value j; faults go to e->bad. */
static int parse_entry(json_t *j, struct aed_rating_entry *e)
{
	json_t *cand, *ans, *labels, *comment, *tm, *v;
	size_t i;

	e->answer = AED_ANSWER_UNSURE;
	if (!(e->candidate = xstrdup(NULL)) || !(e->comment = xstrdup(NULL)) ||
	    !(e->time = xstrdup(NULL)))
		return aed_error(AED_ENOMEM, "out of memory");
	if (!json_is_object(j))
		return set_bad(e, "not an object");
	cand = json_object_get(j, "candidate");
	if (!json_is_string(cand))
		return set_bad(e, "\"candidate\" missing or not a string");
	free(e->candidate);
	if (!(e->candidate = xstrdup(json_string_value(cand))))
		return aed_error(AED_ENOMEM, "out of memory");
	if (!*e->candidate || strlen(e->candidate) > AED_RATINGS_MAX_ID ||
	    has_control(e->candidate))
		return set_bad(e, "candidate id is empty, too long or has control characters");
	ans = json_object_get(j, "answer");
	if (!json_is_string(ans))
		return set_bad(e, "\"answer\" missing or not a string");
	if (aed_answer_parse(json_string_value(ans), &e->answer)) {
		char ex[96];

		aed_ratings_excerpt(json_string_value(ans), ex);
		return set_bad(e, "unknown answer \"%s\"", ex);
	}
	tm = json_object_get(j, "time");
	if (!json_is_string(tm))
		return set_bad(e, "\"time\" missing or not a string");
	free(e->time);
	if (!(e->time = xstrdup(json_string_value(tm))))
		return aed_error(AED_ENOMEM, "out of memory");
	if (!aed_review_time_valid(e->time)) {
		char ex[96];

		aed_ratings_excerpt(e->time, ex);
		return set_bad(e, "time \"%s\" is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS.sssZ)", ex);
	}
	comment = json_object_get(j, "comment");
	if (comment && !json_is_null(comment)) {
		if (!json_is_string(comment))
			return set_bad(e, "\"comment\" is not a string");
		if (json_string_length(comment) > AED_RATINGS_MAX_COMMENT)
			return set_bad(e, "comment longer than %d bytes", AED_RATINGS_MAX_COMMENT);
		free(e->comment);
		if (!(e->comment = xstrdup(json_string_value(comment))))
			return aed_error(AED_ENOMEM, "out of memory");
	}
	labels = json_object_get(j, "labels");
	if (labels && !json_is_null(labels)) {
		if (!json_is_array(labels))
			return set_bad(e, "\"labels\" is not an array");
		if (json_array_size(labels) > AED_RATINGS_MAX_LABELS)
			return set_bad(e, "more than %d labels", AED_RATINGS_MAX_LABELS);
		if (json_array_size(labels) &&
		    !(e->labels = calloc(json_array_size(labels), sizeof *e->labels)))
			return aed_error(AED_ENOMEM, "out of memory");
		json_array_foreach(labels, i, v) {
			size_t k;

			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > AED_RATINGS_MAX_ID)
				return set_bad(e, "label %zu is not a mid string", i + 1);
			for (k = 0; k < e->n_labels; k++)
				if (!strcmp(e->labels[k], json_string_value(v)))
					break;
			if (k < e->n_labels)
				continue;
			if (!(e->labels[e->n_labels] = xstrdup(json_string_value(v))))
				return aed_error(AED_ENOMEM, "out of memory");
			e->n_labels++;
		}
	}
	/* Unknown keys are ignored: a later page may add fields. */
	return AED_OK;
}

static int cmp_entry_ptr(const void *a, const void *b)
{
	const struct aed_rating_entry *x = *(const struct aed_rating_entry *const *)a;
	const struct aed_rating_entry *y = *(const struct aed_rating_entry *const *)b;
	int c = strcmp(x->candidate, y->candidate);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Mark every entry whose candidate appears more than once. */
static int mark_duplicates(struct aed_ratings *r)
{
	struct aed_rating_entry **p;
	size_t i, j, k;
	int rc = AED_OK;

	if (r->n < 2)
		return AED_OK;
	if (!(p = malloc(r->n * sizeof *p)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < r->n; i++)
		p[i] = &r->entries[i];
	qsort(p, r->n, sizeof *p, cmp_entry_ptr);
	for (i = 0; i < r->n; i = j) {
		char list[128] = "";

		for (j = i + 1; j < r->n && !strcmp(p[j]->candidate, p[i]->candidate); j++)
			;
		if (j - i < 2 || !*p[i]->candidate)
			continue;
		for (k = i; k < j; k++) {
			size_t len = strlen(list);

			if (len < sizeof list - 24)
				snprintf(list + len, sizeof list - len, "%s%zu", k > i ? ", " : "",
					 p[k]->index);
			else if (k == j - 1)
				snprintf(list + len, sizeof list - len, ", ...");
		}
		for (k = i; k < j; k++) {
			/* The duplicate reason wins over any other: both entries go. */
			free(p[k]->bad);
			p[k]->bad = NULL;
			if ((rc = set_bad(p[k], "candidate rated more than once (entries %s)", list)))
				goto out;
		}
	}
out:
	free(p);
	return rc;
}

/* A Not present answer for the class judged that also adds that class as a
 * missing label says both that the sound is absent and that it is there:
 * which one the annotator meant cannot be told, so the entry is refused. */
static int mark_contradictions(struct aed_ratings *r)
{
	int rc = AED_OK;

	for (size_t i = 0; i < r->n && !rc; i++) {
		struct aed_rating_entry *e = &r->entries[i];

		if (e->bad || e->answer != AED_ANSWER_NOT_PRESENT)
			continue;
		for (size_t k = 0; k < e->n_labels; k++)
			if (!strcmp(e->labels[k], r->class_mid)) {
				char ex[96];

				aed_ratings_excerpt(r->class_mid, ex);
				rc = set_bad(e, "answer not_present contradicts the added label %s, "
					     "the class judged", ex);
				break;
			}
	}
	return rc;
}

/* A required top-level string of 1..max bytes without control characters. */
static int top_string(json_t *root, const char *key, size_t max, const char *name, char **out)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_string(v))
		return aed_error(AED_EFORMAT, "%s: \"%s\" missing or not a string", name, key);
	if (json_string_length(v) == 0 || json_string_length(v) > max ||
	    has_control(json_string_value(v)))
		return aed_error(AED_EFORMAT, "%s: \"%s\" is empty, longer than %zu bytes or has "
				 "control characters", name, key, max);
	if (!(*out = xstrdup(json_string_value(v))))
		return aed_error(AED_ENOMEM, "out of memory");
	return AED_OK;
}

int aed_ratings_parse(const char *data, size_t n, const char *name, struct aed_ratings **out)
{
	json_error_t err;
	json_t *root = NULL, *v, *arr, *e;
	struct aed_ratings *r = NULL;
	int rc = AED_OK;
	size_t i;

	*out = NULL;
	if (n > AED_RATINGS_MAX_SOURCE)
		return aed_error(AED_ENOMEM, "%s: larger than %u bytes", name, AED_RATINGS_MAX_SOURCE);
	if (!(r = calloc(1, sizeof *r)))
		return aed_error(AED_ENOMEM, "out of memory");
	aed_sha256_hex(data, n, r->sha256);
	root = json_loadb(data, n, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		rc = aed_error(AED_EFORMAT, "%s:%d:%d: %s", name, err.line, err.column, err.text);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = aed_error(AED_EFORMAT, "%s: not a ratings file (the top level is not an object)",
			       name);
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), AED_RATINGS_FORMAT)) {
		rc = aed_error(AED_EFORMAT, "%s: not a ratings file (\"format\" is not \"%s\")",
			       name, AED_RATINGS_FORMAT);
		goto out;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != AED_RATINGS_VERSION) {
		rc = aed_error(AED_EFORMAT, "%s: ratings format version %s%lld is not %d (a newer "
			       "page?)", name, json_is_integer(v) ? "" : "(missing) ",
			       json_is_integer(v) ? (long long)json_integer_value(v) : 0LL,
			       AED_RATINGS_VERSION);
		goto out;
	}
	r->version = AED_RATINGS_VERSION;
	if ((rc = top_string(root, "export_id", 64, name, &r->export_id)) ||
	    (rc = top_string(root, "checksum", 64, name, &r->checksum)) ||
	    (rc = top_string(root, "class", AED_RATINGS_MAX_ID, name, &r->class_mid)) ||
	    (rc = top_string(root, "annotator", AED_RATINGS_MAX_ANNOTATOR, name, &r->annotator)))
		goto out;
	v = json_object_get(root, "exported_at");
	if (!(r->exported_at = xstrdup(json_is_string(v) ? json_string_value(v) : ""))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	arr = json_object_get(root, "ratings");
	if (!json_is_array(arr)) {
		rc = aed_error(AED_EFORMAT, "%s: \"ratings\" missing or not an array", name);
		goto out;
	}
	if (json_array_size(arr) > AED_RATINGS_MAX_ENTRIES) {
		rc = aed_error(AED_ENOMEM, "%s: more than %d ratings", name, AED_RATINGS_MAX_ENTRIES);
		goto out;
	}
	if (json_array_size(arr) &&
	    !(r->entries = calloc(json_array_size(arr), sizeof *r->entries))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(arr, i, e) {
		r->entries[i].index = i + 1;
		r->n = i + 1;
		if ((rc = parse_entry(e, &r->entries[i])))
			goto out;
	}
	if (!(rc = mark_contradictions(r)))
		rc = mark_duplicates(r);
out:
	json_decref(root);
	if (rc)
		aed_ratings_free(&r);
	*out = r;
	return rc;
}
