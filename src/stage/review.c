/* review.c - the review stage: export mined candidates as a static page with
 * context clips and spectrograms, parse and import the ratings files the page
 * produces, derive decisions and verified labels, and report review status.
 * Formats are documented in include/aedcurate/review.h. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/ontology.h"
#include "aedcurate/outdir.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define DEFAULT_LIMIT AED_REVIEW_EXPORT_LIMIT_DEFAULT
#define DEFAULT_BITRATE AED_REVIEW_EXPORT_BITRATE_DEFAULT /* bit/s */
#define PAGE_FILE_MAX (8u << 20) /* bytes of one page source file */
#define IMAGE_BAND_PX 2         /* image rows per mel band */
#define IMAGE_RANGE 10.0f       /* log-mel units shown below the maximum */
#define MAX_PATH_DEPTH 64       /* ontology path length guard */

static const char *const answer_names[AED_ANSWER_COUNT] = {
	"present", "not_present", "unsure", "not_acoustic"
};

static const char *const page_files[] = { "index.html", "app.js", "style.css" };

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

enum aed_answer aed_review_decide(const int64_t *counts, double *agreement)
{
	int64_t best = 0, total = 0;
	int n_best = 0, i, which = AED_ANSWER_UNSURE;

	for (i = 0; i < AED_ANSWER_COUNT; i++) {
		total += counts[i];
		if (counts[i] > best) {
			best = counts[i];
			n_best = 1;
			which = i;
		} else if (counts[i] == best && best > 0) {
			n_best++;
		}
	}
	if (n_best != 1)
		which = AED_ANSWER_UNSURE;
	if (agreement)
		*agreement = total ? (double)best / (double)total : 0.0;
	return (enum aed_answer)which;
}

/* Parse "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" to microseconds since 1970; -1 if
 * the text is not such a time. */
static int64_t time_us(const char *s)
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
	return time_us(s) >= 0;
}

/* --- ratings file ---------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* A short printable excerpt of untrusted text for messages. */
static void excerpt(const char *s, char out[96])
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

		excerpt(json_string_value(ans), ex);
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

		excerpt(e->time, ex);
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

				excerpt(r->class_mid, ex);
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

/* --- small shared pieces ----------------------------------------------------- */

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int aed_review_checksum(const char *mid, const char *const *ids, size_t n, char hex[65])
{
	const char **sorted = NULL;
	struct aed_buf b = { 0 };
	int rc;
	size_t i;

	if (n && !(sorted = malloc(n * sizeof *sorted)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		sorted[i] = ids[i];
	if (n)
		qsort(sorted, n, sizeof *sorted, strcmp_ptr);
	rc = aed_buf_printf(&b, "aedcurate-review-v1\n%s\n", mid);
	for (i = 0; !rc && i < n; i++)
		rc = aed_buf_printf(&b, "%s\n", sorted[i]);
	if (!rc)
		aed_sha256_hex(b.data, b.len, hex);
	aed_buf_release(&b);
	free(sorted);
	return rc;
}

int aed_review_script_escape(const char *json, char **out)
{
	struct aed_buf b = { 0 };
	const unsigned char *p = (const unsigned char *)json;
	int rc = AED_OK;

	*out = NULL;
	/* These bytes occur only inside JSON strings, where \uXXXX means the same
	 * character; outside a string the JSON grammar has no use for them. */
	for (; *p && !rc; p++) {
		if (*p == '<')
			rc = aed_buf_append(&b, "\\u003c", 6);
		else if (*p == '>')
			rc = aed_buf_append(&b, "\\u003e", 6);
		else if (*p == '&')
			rc = aed_buf_append(&b, "\\u0026", 6);
		else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			rc = aed_buf_append(&b, p[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			p += 2;
		} else
			rc = aed_buf_append(&b, p, 1);
	}
	if (!rc && !b.data)
		rc = aed_buf_append(&b, "", 0);
	if (rc) {
		aed_buf_release(&b);
		return rc;
	}
	*out = b.data;
	return AED_OK;
}

/* End a review-export run: FAILED with the error that ended it (raised
 * again for the caller), or OK with its n candidates. */
static int end_export_run(struct aed_db *db, int64_t run_id, int rc, size_t n)
{
	if (!rc)
		return aed_run_end(db, run_id, AED_RUN_OK, (int64_t)n, 0, NULL);
	char msg[512];
	snprintf(msg, sizeof msg, "%s", aed_last_error());
	aed_run_end(db, run_id, AED_RUN_FAILED, 0, 1, msg);
	return aed_error(rc, "%s", msg);
}

static int dir_has_page(const char *dir)
{
	char *path = NULL;
	struct stat st;
	int ok;

	if (asprintf(&path, "%s/index.html", dir) < 0)
		return 0;
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok;
}

const char *aed_review_web_dir(void)
{
	static char buf[4200];
	const char *env = getenv("AEDCURATE_WEB");
	char exe[4000];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, sizeof buf, "%s", env);
		return dir_has_page(buf) ? buf : NULL;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		if ((slash = strrchr(exe, '/'))) {
			*slash = 0;     /* .../bin */
			if ((slash = strrchr(exe, '/'))) {
				*slash = 0; /* the repository or prefix */
				snprintf(buf, sizeof buf, "%s/web/review", exe);
				if (dir_has_page(buf))
					return buf;
				snprintf(buf, sizeof buf, "%s/share/aedcurate/review", exe);
				if (dir_has_page(buf))
					return buf;
			}
		}
	}
	snprintf(buf, sizeof buf, "web/review");
	return dir_has_page(buf) ? buf : NULL;
}

/* --- export ------------------------------------------------------------------ */

struct cand {
	int64_t segment_id, rank, start_ms;
	double score, best_time_s;
	char *key, *ytid;
};

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

/* The class's path from a root: follows the first parent (lowest id) up. */
static int class_path(struct aed_db *db, int64_t class_id, json_t *path)
{
	sqlite3_stmt *up = NULL, *nm = NULL;
	int64_t id = class_id;
	int rc, depth;

	if ((rc = aed_db_prepare(db, "SELECT parent_id FROM class_edge WHERE child_id = ?1 "
				 "ORDER BY parent_id LIMIT 1", &up)) ||
	    (rc = aed_db_prepare(db, "SELECT name FROM class WHERE id = ?1", &nm)))
		goto out;
	for (depth = 0; depth < MAX_PATH_DEPTH; depth++) {
		sqlite3_bind_int64(nm, 1, id);
		if (sqlite3_step(nm) == SQLITE_ROW)
			json_array_insert_new(path, 0, json_string(col(nm, 0)));
		sqlite3_reset(nm);
		sqlite3_bind_int64(up, 1, id);
		if (sqlite3_step(up) != SQLITE_ROW) {
			sqlite3_reset(up);
			break;
		}
		id = sqlite3_column_int64(up, 0);
		sqlite3_reset(up);
	}
out:
	sqlite3_finalize(up);
	sqlite3_finalize(nm);
	return rc;
}

/* A perceptual colour ramp (dark blue - purple - orange - pale yellow). */
static void colour(float t, uint8_t rgb[3])
{
	static const float stops[][3] = {
		{ 0, 0, 4 }, { 40, 11, 84 }, { 101, 21, 110 }, { 159, 42, 99 },
		{ 212, 72, 66 }, { 245, 125, 21 }, { 250, 193, 39 }, { 252, 255, 164 },
	};
	const int n = sizeof stops / sizeof stops[0];
	float x;
	int i;

	if (!(t > 0.0f))
		t = 0.0f;
	if (t > 1.0f)
		t = 1.0f;
	x = t * (float)(n - 1);
	i = (int)x;
	if (i >= n - 1)
		i = n - 2;
	x -= (float)i;
	for (int c = 0; c < 3; c++)
		rgb[c] = (uint8_t)lrintf(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * x);
}

/* The log-mel of the context as an image: one column per frame, two rows
 * per band, low bands at the bottom. */
static int write_spectrogram(const char *path, const float *x, size_t n, size_t *frames_out)
{
	float *mel = NULL, lo = INFINITY, hi = -INFINITY;
	size_t frames = 0, f, i;
	uint8_t *img = NULL;
	int rc, w, h = AED_MEL_BANDS * IMAGE_BAND_PX, b, r;

	if ((rc = aed_logmel(x, n, AED_PRESET_YAMNET, &mel, &frames)))
		return rc;
	w = frames ? (int)frames : 1;
	if (!(img = malloc((size_t)w * (size_t)h * 3))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < frames * AED_MEL_BANDS; i++) {
		if (mel[i] < lo)
			lo = mel[i];
		if (mel[i] > hi)
			hi = mel[i];
	}
	if (!frames)
		lo = hi = 0.0f;
	if (lo < hi - IMAGE_RANGE)
		lo = hi - IMAGE_RANGE;
	for (f = 0; f < (size_t)w; f++)
		for (b = 0; b < AED_MEL_BANDS; b++) {
			uint8_t rgb[3];
			float v = frames ? mel[f * AED_MEL_BANDS + (size_t)b] : 0.0f;

			colour(hi > lo ? (v - lo) / (hi - lo) : 0.0f, rgb);
			for (r = 0; r < IMAGE_BAND_PX; r++) {
				size_t row = (size_t)(h - 1 - (b * IMAGE_BAND_PX + r));

				memcpy(img + (row * (size_t)w + f) * 3, rgb, 3);
			}
		}
	rc = aed_encode_png_rgb(path, img, w, h);
	*frames_out = frames;
out:
	free(mel);
	free(img);
	return rc;
}

/* Context clip of candidate c: up to AED_REVIEW_CONTEXT_S around the best
 * patch, inside the clip's real samples. Writes the Ogg and PNG files and
 * appends the candidate's JSON. */
static int export_one(struct aed_db *db, const struct cand *c, size_t pos, const char *out_dir,
		      int bitrate, json_t *arr)
{
	struct aed_array a = { 0 };
	sqlite3_stmt *st = NULL;
	float *x = NULL;
	int64_t real = -1, total, len, off, ctx = (int64_t)(AED_REVIEW_CONTEXT_S * AED_SAMPLE_RATE);
	char audio_rel[32], image_rel[32], path[4096];
	size_t frames = 0;
	double centre;
	int rc;

	rc = aed_array_get(db, "clip", c->segment_id, &a);
	if (rc == AED_ENOTFOUND) {
		rc = aed_error(AED_ESTATE, "candidate %s has no decoded clip: run `aedcurate decode` "
			       "first", c->key);
		goto out;
	}
	if (rc)
		goto out;
	if (a.dtype != AED_I16) {
		rc = aed_error(AED_EFORMAT, "clip of %s: dtype %s, expected i16", c->key,
			       aed_dtype_name(a.dtype));
		goto out;
	}
	total = (int64_t)(a.nbytes / sizeof(int16_t));
	/* The real length, without the zero padding, when decode recorded it. */
	if (aed_db_prepare(db, "SELECT n_samples FROM clip WHERE segment_id = ?1", &st) == AED_OK) {
		sqlite3_bind_int64(st, 1, c->segment_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			real = sqlite3_column_int64(st, 0);
	}
	if (real <= 0 || real > total)
		real = total;
	len = real < ctx ? real : ctx;
	centre = (c->best_time_s + AED_REVIEW_PATCH_S / 2) * AED_SAMPLE_RATE;
	off = (int64_t)llround(centre - (double)len / 2);
	if (off > real - len)
		off = real - len;
	if (off < 0)
		off = 0;
	if (len <= 0) {
		rc = aed_error(AED_ESTATE, "candidate %s: the clip is empty", c->key);
		goto out;
	}
	if (!(x = malloc((size_t)len * sizeof *x))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	aed_s16_to_f32((const int16_t *)a.data + off, (size_t)len, x);
	snprintf(audio_rel, sizeof audio_rel, "media/%04zu.ogg", pos + 1);
	snprintf(image_rel, sizeof image_rel, "media/%04zu.png", pos + 1);
	snprintf(path, sizeof path, "%s/%s", out_dir, audio_rel);
	if ((rc = aed_encode_opus_ogg(path, x, (size_t)len, AED_SAMPLE_RATE, bitrate)))
		goto out;
	snprintf(path, sizeof path, "%s/%s", out_dir, image_rel);
	if ((rc = write_spectrogram(path, x, (size_t)len, &frames)))
		goto out;
	{
		double off_s = (double)off / AED_SAMPLE_RATE;
		json_t *j = json_pack("{s:s, s:s, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:s, "
				      "s:I}",
				      "id", c->key, "ytid", c->ytid,
				      "start_s", (double)c->start_ms / 1000.0,
				      "rank", (json_int_t)c->rank, "score", c->score,
				      "best_time_s", c->best_time_s, "offset_s", off_s,
				      "duration_s", (double)len / AED_SAMPLE_RATE,
				      "best_start_s", c->best_time_s - off_s,
				      "best_dur_s", AED_REVIEW_PATCH_S,
				      "audio", audio_rel, "image", image_rel,
				      "frames", (json_int_t)frames);
		if (!j || json_array_append_new(arr, j)) {
			rc = aed_error(AED_ENOMEM, "out of memory building the page data");
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	aed_array_release(&a);
	free(x);
	return rc;
}

/* The files of a page of n candidates, for the folder's file list
 * (outdir.h): names[] points into *buf or at literals; free both. */
static int page_file_names(size_t n, const char ***names, size_t *n_names, char **buf)
{
	const size_t np = sizeof page_files / sizeof *page_files;
	const char **v = malloc((2 * n + np + 1) * sizeof *v);
	char *b = malloc(2 * n * 32 + 1);
	size_t k = 0;

	if (!v || !b) {
		free(v);
		free(b);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < 2; t++) {
			char *p = b + (2 * i + (size_t)t) * 32;
			snprintf(p, 32, "media/%04zu.%s", i + 1, t ? "png" : "ogg");
			v[k++] = p;
		}
	v[k++] = "candidates.js";
	for (size_t i = 0; i < np; i++)
		v[k++] = page_files[i];
	*names = v;
	*n_names = k;
	*buf = b;
	return AED_OK;
}

static int copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t n = 0;
	int rc = aed_read_file(from, PAGE_FILE_MAX, &data, &n);

	if (!rc)
		rc = aed_write_file_atomic(to, data, n);
	free(data);
	return rc;
}

static int random_hex(char out[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof b) {
		ssize_t r = getrandom(b + got, sizeof b - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return aed_error(AED_EIO, "getrandom: %s", strerror(errno));
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return AED_OK;
}

static void cands_release(struct cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].key);
		free(c[i].ytid);
	}
	free(c);
}

/* Record the export: review_export and review_item rows, one transaction. */
static int record_export(struct aed_db *db, struct aed_review_export_result *r,
			 const char *out_dir, const struct cand *c, size_t n)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(db)))
		return rc;
	if ((rc = aed_db_prepare(db, "INSERT INTO review_export(export_id, mine_run_id, class_id, "
				 "checksum, n_candidates, out_dir, run_id, created_at) "
				 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r->export_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->mine_run_id);
	sqlite3_bind_int64(st, 3, r->class_id);
	sqlite3_bind_text(st, 4, r->checksum, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)n);
	sqlite3_bind_text(st, 6, out_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, r->run_id);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "recording the export");
		goto out;
	}
	r->review_export_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = aed_db_prepare(db, "INSERT INTO review_item(export_id, segment_id, ord) "
				 "VALUES(?1, ?2, ?3)", &st)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, r->review_export_id);
		sqlite3_bind_int64(st, 2, c[i].segment_id);
		sqlite3_bind_int64(st, 3, (int64_t)i);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(db, "recording an exported candidate");
			goto out;
		}
		sqlite3_reset(st);
	}
	rc = aed_db_commit(db);
out:
	sqlite3_finalize(st);
	if (rc)
		aed_db_rollback(db);
	return rc;
}

int aed_review_export(struct aed_db *db, const struct aed_review_export_opts *o,
		      struct aed_review_export_result *r)
{
	sqlite3_stmt *st = NULL;
	struct cand *c = NULL;
	size_t n = 0, cap = 0, i;
	json_t *root = NULL, *cls = NULL, *path = NULL, *arr = NULL, *onto = NULL, *mrun = NULL;
	char *json = NULL, *safe = NULL, *params = NULL, now[32], file[4096];
	const char **ids = NULL, **files = NULL;
	const char *web;
	struct aed_outdir od = { 0 };
	size_t n_files = 0;
	char *files_buf = NULL;
	struct aed_buf js = { 0 };
	long limit = o->limit > 0 ? o->limit : DEFAULT_LIMIT;
	int rc, step, run_open = 0;

	memset(r, 0, sizeof *r);
	if (!o->out_dir || !*o->out_dir)
		return aed_error(AED_EUSAGE, "review export: --out DIR is required");
	web = o->web_dir ? o->web_dir : aed_review_web_dir();
	if (!web || !dir_has_page(web))
		return aed_error(AED_ENOTFOUND, "the review page sources (index.html, app.js, "
				 "style.css) are not in %s: set AEDCURATE_WEB or --web",
				 web ? web : "$AEDCURATE_WEB, <prefix>/web/review or ./web/review");
	/* Which mine run. */
	if (o->mine_run_id > 0) {
		r->mine_run_id = o->mine_run_id;
	} else if (o->class_name) {
		int64_t cid;

		if ((rc = aed_class_resolve(db, o->class_name, &cid)))
			return rc;
		if ((rc = aed_db_prepare(db, "SELECT id FROM mine_run WHERE class_id = ?1 "
					 "ORDER BY id DESC LIMIT 1", &st)))
			return rc;
		sqlite3_bind_int64(st, 1, cid);
		if (sqlite3_step(st) == SQLITE_ROW)
			r->mine_run_id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (!r->mine_run_id) {
			char *mid = NULL, *name = NULL;

			/* Name the class resolved, not the text typed: "cough" and
			 * "/m/01b_21" are the same class. */
			if ((rc = aed_class_mid_name(db, cid, &mid, &name)))
				return rc;
			rc = aed_error(AED_ENOTFOUND, "%s (%s) has no mine run: run `aedcurate "
				       "mine --class %s` first", mid, name, mid);
			free(mid);
			free(name);
			return rc;
		}
	} else {
		return aed_error(AED_EUSAGE, "review export: give --class NAME|MID or --run ID");
	}
	if ((rc = aed_db_prepare(db, "SELECT m.class_id, c.mid, c.name, c.description, m.method, "
				 "m.created_at FROM mine_run m JOIN class c ON c.id = m.class_id "
				 "WHERE m.id = ?1", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->mine_run_id);
	if ((step = sqlite3_step(st)) != SQLITE_ROW) {
		rc = step == SQLITE_DONE
			? aed_error(AED_ENOTFOUND, "no mine run %lld with a class (see `aedcurate "
				    "review status`)", (long long)r->mine_run_id)
			: aed_db_error(db, "reading the mine run");
		goto out;
	}
	r->class_id = sqlite3_column_int64(st, 0);
	snprintf(r->mid, sizeof r->mid, "%s", col(st, 1));
	path = json_array();
	cls = json_pack("{s:s, s:s, s:s, s:O}", "mid", col(st, 1), "name", col(st, 2),
			"description", col(st, 3), "path", path);
	mrun = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)r->mine_run_id, "method", col(st, 4),
			 "created_at", col(st, 5));
	sqlite3_finalize(st);
	st = NULL;
	if (!cls || !mrun || !path) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = class_path(db, r->class_id, path)))
		goto out;
	/* The best-ranked candidates. */
	if ((rc = aed_db_prepare(db, "SELECT k.segment_id, k.rank, k.score, k.best_time_s, s.key, "
				 "s.ytid, s.start_ms FROM candidate k JOIN segment s "
				 "ON s.id = k.segment_id WHERE k.mine_run_id = ?1 AND (?3 = 0 OR "
				 "NOT EXISTS (SELECT 1 FROM review_decision d WHERE d.class_id = ?4 "
				 "AND d.segment_id = k.segment_id)) "
				 "ORDER BY k.rank, k.segment_id LIMIT ?2", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->mine_run_id);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int(st, 3, o->unrated);
	sqlite3_bind_int64(st, 4, r->class_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct cand *nc = realloc(c, ncap * sizeof *c);

			if (!nc) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			memset(nc + cap, 0, (ncap - cap) * sizeof *nc);
			c = nc;
			cap = ncap;
		}
		c[n].segment_id = sqlite3_column_int64(st, 0);
		c[n].rank = sqlite3_column_int64(st, 1);
		c[n].score = sqlite3_column_double(st, 2);
		c[n].best_time_s = sqlite3_column_double(st, 3);
		c[n].key = xstrdup(col(st, 4));
		c[n].ytid = xstrdup(col(st, 5));
		c[n].start_ms = sqlite3_column_int64(st, 6);
		n++;
		if (!c[n - 1].key || !c[n - 1].ytid) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "reading candidates");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (n == 0) {
		rc = aed_error(AED_ESTATE, "mine run %lld has no candidates%s", (long long)r->mine_run_id,
			       o->unrated ? " without a review decision" : "");
		goto out;
	}
	r->n_candidates = (int64_t)n;
	if (!(ids = malloc(n * sizeof *ids))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		ids[i] = c[i].key;
	if ((rc = aed_review_checksum(r->mid, ids, n, r->checksum)) || (rc = random_hex(r->export_id)))
		goto out;
	/* The whole ontology for the "missing labels" autocomplete. */
	if (!(onto = json_array()) || !(arr = json_array())) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_prepare(db, "SELECT mid, name FROM class ORDER BY name COLLATE NOCASE, id",
				 &st)))
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(onto, json_pack("[s, s]", col(st, 0), col(st, 1)));
	sqlite3_finalize(st);
	st = NULL;
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "reading the ontology");
		goto out;
	}
	/* The run, then the files, then the record of what was written. */
	{
		json_t *p = json_pack("{s:I, s:s, s:I}", "mine_run", (json_int_t)r->mine_run_id,
				      "out", o->out_dir, "limit", (json_int_t)limit);

		params = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(p);
	}
	/* Only an empty or new folder or an earlier review page is written into;
	 * a refusal comes before the run and changes nothing. */
	if ((rc = aed_outdir_claim(o->out_dir, "review-page", &od)) ||
	    (rc = page_file_names(n, &files, &n_files, &files_buf)))
		goto out;
	if ((rc = aed_run_begin(db, "review-export", params ? params : "{}", &r->run_id)))
		goto out;
	run_open = 1;
	snprintf(file, sizeof file, "%s/media", o->out_dir);
	if ((rc = aed_outdir_begin(&od, files, n_files)) || (rc = aed_mkdir_p(file)))
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = export_one(db, &c[i], i, o->out_dir,
				     o->bitrate > 0 ? o->bitrate : DEFAULT_BITRATE, arr)))
			goto out;
	aed_utc_iso8601(now);
	root = json_pack("{s:s, s:i, s:s, s:s, s:s, s:O, s:O, s:O, s:O}",
			 "format", "aedcurate-review", "version", 1, "export_id", r->export_id,
			 "checksum", r->checksum, "created_at", now, "mine_run", mrun, "class", cls,
			 "candidates", arr, "ontology", onto);
	if (!root || !(json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) ||
	    (rc = aed_review_script_escape(json, &safe)) ||
	    (rc = aed_buf_printf(&js, "/* generated by aedcurate review export: the candidates "
				 "to rate */\nwindow.AED_DATA = %s;\n", safe))) {
		rc = rc ? rc : aed_error(AED_ENOMEM, "out of memory building the page data");
		goto out;
	}
	snprintf(file, sizeof file, "%s/candidates.js", o->out_dir);
	if ((rc = aed_write_file_atomic(file, js.data, js.len)))
		goto out;
	for (i = 0; i < sizeof page_files / sizeof *page_files; i++) {
		char from[4096];

		snprintf(from, sizeof from, "%s/%s", web, page_files[i]);
		snprintf(file, sizeof file, "%s/%s", o->out_dir, page_files[i]);
		if ((rc = copy_file(from, file)))
			goto out;
	}
	/* media of an earlier, longer page go; files it did not write stay */
	if ((rc = aed_outdir_finish(&od, files, n_files)))
		goto out;
	rc = record_export(db, r, o->out_dir, c, n);
out:
	sqlite3_finalize(st);
	if (run_open)
		rc = end_export_run(db, r->run_id, rc, n);
	if (c)
		cands_release(c, n);
	aed_outdir_release(&od);
	free(files);
	free(files_buf);
	free(ids);
	free(json);
	free(safe);
	free(params);
	aed_buf_release(&js);
	json_decref(root);
	json_decref(cls);
	json_decref(path);
	json_decref(arr);
	json_decref(onto);
	json_decref(mrun);
	return rc;
}

int aed_review_export_record(struct aed_db *db, int64_t mine_run_id, long limit,
			     const char *note, struct aed_review_export_result *r)
{
	sqlite3_stmt *st = NULL;
	struct cand *c = NULL;
	const char **ids = NULL;
	char *params = NULL;
	size_t n = 0;
	int rc, step, run_open = 0;

	memset(r, 0, sizeof *r);
	r->mine_run_id = mine_run_id;
	if ((rc = aed_db_prepare(db, "SELECT m.class_id, c.mid FROM mine_run m JOIN class c ON "
				 "c.id = m.class_id WHERE m.id = ?1", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, mine_run_id);
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		r->class_id = sqlite3_column_int64(st, 0);
		snprintf(r->mid, sizeof r->mid, "%s", col(st, 1));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (step != SQLITE_ROW)
		return step == SQLITE_DONE ? aed_error(AED_ENOTFOUND, "no mine run %lld",
						       (long long)mine_run_id)
					   : aed_db_error(db, "reading the mine run");
	if (limit <= 0)
		limit = DEFAULT_LIMIT;
	if (!(c = calloc((size_t)limit, sizeof *c)) || !(ids = calloc((size_t)limit, sizeof *ids))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_prepare(db, "SELECT k.segment_id, s.key FROM candidate k JOIN segment s "
				 "ON s.id = k.segment_id WHERE k.mine_run_id = ?1 "
				 "ORDER BY k.rank, k.segment_id LIMIT ?2", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, mine_run_id);
	sqlite3_bind_int64(st, 2, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		c[n].segment_id = sqlite3_column_int64(st, 0);
		if (!(c[n].key = xstrdup(col(st, 1)))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		ids[n] = c[n].key;
		n++;
	}
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "reading candidates");
		goto out;
	}
	if (n == 0) {
		rc = aed_error(AED_ESTATE, "mine run %lld has no candidates", (long long)mine_run_id);
		goto out;
	}
	r->n_candidates = (int64_t)n;
	if ((rc = aed_review_checksum(r->mid, ids, n, r->checksum)) || (rc = random_hex(r->export_id)))
		goto out;
	{
		json_t *p = json_pack("{s:I, s:s, s:I}", "mine_run", (json_int_t)mine_run_id,
				      "record_only", note ? note : "", "limit", (json_int_t)limit);

		params = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(p);
	}
	if ((rc = aed_run_begin(db, "review-export", params ? params : "{}", &r->run_id)))
		goto out;
	run_open = 1;
	rc = record_export(db, r, note ? note : "", c, n);
out:
	sqlite3_finalize(st);
	if (run_open)
		rc = end_export_run(db, r->run_id, rc, n);
	if (c)
		cands_release(c, n);
	free(ids);
	free(params);
	return rc;
}

/* --- import ------------------------------------------------------------------ */

enum entry_state { ENTRY_BAD, ENTRY_NEW, ENTRY_UPDATE, ENTRY_SAME, ENTRY_OLDER };

struct good {
	struct aed_rating_entry *e;
	enum entry_state state;
	int64_t segment_id, rating_id; /* rating_id of the stored rating, if any */
	int64_t *labels;               /* class ids, sorted */
	size_t n_labels;
};

struct export_row {
	int64_t id, class_id;
	char checksum[65], mid[AED_RATINGS_MAX_ID + 1];
};

static int add_msg(struct aed_review_import_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_msg(struct aed_review_import_result *r, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL, **v;

	if (!r)
		return AED_OK; /* a second look: the first one reported it */
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m || !(v = realloc(r->messages, (r->n_messages + 1) * sizeof *v))) {
		free(m);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	r->messages = v;
	r->messages[r->n_messages++] = m;
	return AED_OK;
}

void aed_review_import_result_release(struct aed_review_import_result *r)
{
	for (size_t i = 0; i < r->n_messages; i++)
		free(r->messages[i]);
	free(r->messages);
	memset(r, 0, sizeof *r);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int find_export(struct aed_db *db, const char *export_id, struct export_row *x, int *found)
{
	sqlite3_stmt *st = NULL;
	int rc = aed_db_prepare(db, "SELECT e.id, e.class_id, e.checksum, c.mid FROM review_export e "
				"JOIN class c ON c.id = e.class_id WHERE e.export_id = ?1", &st);

	*found = 0;
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, export_id, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		x->id = sqlite3_column_int64(st, 0);
		x->class_id = sqlite3_column_int64(st, 1);
		snprintf(x->checksum, sizeof x->checksum, "%s", col(st, 2));
		snprintf(x->mid, sizeof x->mid, "%s", col(st, 3));
		*found = 1;
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = aed_db_error(db, "looking up the export");
	}
	sqlite3_finalize(st);
	return rc;
}

/* The statements of an import, prepared once and reset after each use: a
 * file of 100 k entries would otherwise parse a dozen statements per entry,
 * which cost more than running them. */
struct imp {
	struct aed_db *db;
	sqlite3_stmt *cand, *mid, *rating, *labels;       /* classify */
	sqlite3_stmt *ins, *upd, *del_labels, *ins_label; /* store_rating */
	sqlite3_stmt *counts, *decision, *verify, *unverify; /* decide_pair */
	sqlite3_stmt *review_del, *review_ins;            /* sync_review_labels */
};

static void imp_release(struct imp *im)
{
	sqlite3_stmt **v[] = { &im->cand, &im->mid, &im->rating, &im->labels, &im->ins, &im->upd,
			       &im->del_labels, &im->ins_label, &im->counts, &im->decision,
			       &im->verify, &im->unverify, &im->review_del, &im->review_ins };

	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		sqlite3_finalize(*v[i]);
		*v[i] = NULL;
	}
}

static int imp_prepare(struct aed_db *db, struct imp *im)
{
	const struct {
		sqlite3_stmt **st;
		const char *sql;
	} s[] = {
		{ &im->cand, "SELECT i.segment_id FROM review_item i JOIN segment s ON s.id = "
			     "i.segment_id WHERE i.export_id = ?1 AND s.key = ?2" },
		{ &im->mid, "SELECT id FROM class WHERE mid = ?1" },
		{ &im->rating, "SELECT id, answer, comment, rated_at FROM rating WHERE class_id = ?1 "
			       "AND segment_id = ?2 AND annotator = ?3" },
		{ &im->labels, "SELECT class_id FROM rating_label WHERE rating_id = ?1 ORDER BY "
			       "class_id" },
		{ &im->ins, "INSERT INTO rating(class_id, segment_id, annotator, answer, comment, "
			    "rated_at, export_id, import_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" },
		{ &im->upd, "UPDATE rating SET answer = ?4, comment = ?5, rated_at = ?6, export_id = "
			    "?7, import_id = ?8 WHERE class_id = ?1 AND segment_id = ?2 AND "
			    "annotator = ?3" },
		{ &im->del_labels, "DELETE FROM rating_label WHERE rating_id = ?1" },
		{ &im->ins_label, "INSERT OR IGNORE INTO rating_label(rating_id, class_id) "
				  "VALUES(?1, ?2)" },
		{ &im->counts, "SELECT answer, count(*) FROM rating WHERE class_id = ?1 AND "
			       "segment_id = ?2 GROUP BY answer" },
		{ &im->decision, "INSERT OR REPLACE INTO review_decision(class_id, segment_id, "
				 "decision, n_ratings, n_present, n_not_present, n_unsure, "
				 "n_not_acoustic, agreement, updated_at) "
				 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)" },
		{ &im->verify, "INSERT OR IGNORE INTO label(segment_id, class_id, source) "
			       "VALUES(?1, ?2, 'verified')" },
		{ &im->unverify, "DELETE FROM label WHERE segment_id = ?1 AND class_id = ?2 AND "
				 "source = 'verified'" },
		/* The segment's 'review' labels are the classes its ratings add
		 * (sql/0012_review_label.sql), bar a contradicting one stored
		 * before such entries were refused. */
		{ &im->review_del, "DELETE FROM label WHERE segment_id = ?1 AND source = 'review' "
				   "AND class_id NOT IN (SELECT rl.class_id FROM rating r JOIN "
				   "rating_label rl ON rl.rating_id = r.id WHERE r.segment_id = ?1 "
				   "AND NOT (rl.class_id = r.class_id AND r.answer = 'not_present'))" },
		{ &im->review_ins, "INSERT OR IGNORE INTO label(segment_id, class_id, source) "
				   "SELECT DISTINCT r.segment_id, rl.class_id, 'review' FROM rating r "
				   "JOIN rating_label rl ON rl.rating_id = r.id WHERE r.segment_id = "
				   "?1 AND NOT (rl.class_id = r.class_id AND r.answer = "
				   "'not_present')" },
	};
	int rc = AED_OK;

	memset(im, 0, sizeof *im);
	im->db = db;
	for (size_t i = 0; i < sizeof s / sizeof *s && !rc; i++)
		rc = aed_db_prepare(db, s[i].sql, s[i].st);
	if (rc)
		imp_release(im);
	return rc;
}

/* The stored rating's labels, sorted. */
static int stored_labels(struct imp *im, int64_t rating_id, int64_t **ids, size_t *n)
{
	sqlite3_stmt *st = im->labels;
	int64_t *v = NULL, *nv;
	size_t k = 0, cap = 0;
	int rc = AED_OK, step;

	*ids = NULL;
	*n = 0;
	sqlite3_bind_int64(st, 1, rating_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? 2 * cap : 8;
			if (!(nv = realloc(v, cap * sizeof *v))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			v = nv;
		}
		v[k++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && step != SQLITE_DONE)
		rc = aed_db_error(im->db, "reading stored labels");
	sqlite3_reset(st);
	if (rc) {
		free(v);
		return rc;
	}
	*ids = v;
	*n = k;
	return AED_OK;
}

/* Check one well-formed entry against the export and the stored ratings:
 * sets g->state (ENTRY_BAD with a message). Reads only. */
static int classify(struct imp *im, const char *path, const struct export_row *x,
		    const char *annotator, struct good *g, struct aed_review_import_result *r)
{
	sqlite3_stmt *st = im->cand;
	struct aed_rating_entry *e = g->e;
	char ex[96];
	int64_t *old = NULL;
	size_t n_old = 0, i;
	int rc = AED_OK, step;

	excerpt(e->candidate, ex);
	g->state = ENTRY_BAD;
	sqlite3_bind_int64(st, 1, x->id);
	sqlite3_bind_text(st, 2, e->candidate, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		g->segment_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (step != SQLITE_ROW) {
		if (step != SQLITE_DONE)
			return aed_db_error(im->db, "looking up a candidate");
		return add_msg(r, "%s: entry %zu (%s): unknown candidate: not in this export", path,
			       e->index, ex);
	}
	if (e->n_labels && !(g->labels = calloc(e->n_labels, sizeof *g->labels)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < e->n_labels; i++) {
		st = im->mid;
		sqlite3_bind_text(st, 1, e->labels[i], -1, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			g->labels[g->n_labels++] = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (step == SQLITE_DONE) {
			char lx[96];

			excerpt(e->labels[i], lx);
			return add_msg(r, "%s: entry %zu (%s): unknown mid \"%s\" in labels", path,
				       e->index, ex, lx);
		}
		if (step != SQLITE_ROW)
			return aed_db_error(im->db, "looking up a mid");
	}
	if (g->n_labels > 1)
		qsort(g->labels, g->n_labels, sizeof *g->labels, cmp_i64);
	st = im->rating;
	sqlite3_bind_int64(st, 1, x->class_id);
	sqlite3_bind_int64(st, 2, g->segment_id);
	sqlite3_bind_text(st, 3, annotator, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		g->state = ENTRY_NEW;
	} else if (step == SQLITE_ROW) {
		int64_t t_old = time_us(col(st, 3)), t_new = time_us(e->time);
		int same;

		g->rating_id = sqlite3_column_int64(st, 0);
		if ((rc = stored_labels(im, g->rating_id, &old, &n_old)))
			goto out;
		same = !strcmp(col(st, 1), aed_answer_name(e->answer)) &&
		       !strcmp(col(st, 2), e->comment) && !strcmp(col(st, 3), e->time) &&
		       n_old == g->n_labels &&
		       (n_old == 0 || !memcmp(old, g->labels, n_old * sizeof *old));
		g->state = same ? ENTRY_SAME : t_new >= t_old ? ENTRY_UPDATE : ENTRY_OLDER;
	} else {
		rc = aed_db_error(im->db, "reading stored ratings");
	}
out:
	sqlite3_reset(st);
	free(old);
	return rc;
}

/* Write one new or updated rating (inside the import's transaction). */
static int store_rating(struct imp *im, const struct export_row *x, const char *annotator,
			int64_t import_id, struct good *g)
{
	sqlite3_stmt *st = g->state == ENTRY_NEW ? im->ins : im->upd;
	int rc = AED_OK;

	sqlite3_bind_int64(st, 1, x->class_id);
	sqlite3_bind_int64(st, 2, g->segment_id);
	sqlite3_bind_text(st, 3, annotator, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, aed_answer_name(g->e->answer), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, g->e->comment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, g->e->time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, x->id);
	sqlite3_bind_int64(st, 8, import_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(im->db, "storing a rating");
		goto out;
	}
	if (g->state == ENTRY_NEW)
		g->rating_id = sqlite3_last_insert_rowid(aed_db_sqlite(im->db));
	sqlite3_reset(st);
	/* a new rating has no labels yet: nothing to replace */
	if (g->state != ENTRY_NEW) {
		st = im->del_labels;
		sqlite3_bind_int64(st, 1, g->rating_id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(im->db, "replacing labels");
			goto out;
		}
		sqlite3_reset(st);
	}
	st = im->ins_label;
	for (size_t i = 0; i < g->n_labels; i++) {
		sqlite3_bind_int64(st, 1, g->rating_id);
		sqlite3_bind_int64(st, 2, g->labels[i]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(im->db, "storing a label");
			goto out;
		}
		sqlite3_reset(st);
	}
out:
	sqlite3_reset(st);
	return rc;
}

/* Recompute the decision of (class, segment) from all its ratings, and the
 * verified label that follows from it. */
static int decide_pair(struct imp *im, int64_t class_id, int64_t segment_id, const char *now,
		       struct aed_review_import_result *r, double *agreement_sum)
{
	sqlite3_stmt *st = im->counts;
	int64_t counts[AED_ANSWER_COUNT] = { 0 }, total = 0, best = 0;
	enum aed_answer d;
	double agreement;
	int rc = AED_OK, n_best = 0, i, step;

	sqlite3_bind_int64(st, 1, class_id);
	sqlite3_bind_int64(st, 2, segment_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		enum aed_answer a = AED_ANSWER_UNSURE;

		if (aed_answer_parse(col(st, 0), &a) == AED_OK)
			counts[a] += sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return aed_db_error(im->db, "counting ratings");
	for (i = 0; i < AED_ANSWER_COUNT; i++) {
		total += counts[i];
		if (counts[i] > best) {
			best = counts[i];
			n_best = 1;
		} else if (counts[i] == best && best) {
			n_best++;
		}
	}
	if (!total)
		return AED_OK;
	d = aed_review_decide(counts, &agreement);
	st = im->decision;
	sqlite3_bind_int64(st, 1, class_id);
	sqlite3_bind_int64(st, 2, segment_id);
	sqlite3_bind_text(st, 3, aed_answer_name(d), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, total);
	for (i = 0; i < AED_ANSWER_COUNT; i++)
		sqlite3_bind_int64(st, 5 + i, counts[i]);
	sqlite3_bind_double(st, 9, agreement);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(im->db, "storing a decision");
	sqlite3_reset(st);
	if (rc)
		return rc;
	/* A verified positive is a label and an exemplar for the next round;
	 * anything else takes a verified label back. */
	st = d == AED_ANSWER_PRESENT ? im->verify : im->unverify;
	sqlite3_bind_int64(st, 1, segment_id);
	sqlite3_bind_int64(st, 2, class_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(im->db, "updating verified labels");
	sqlite3_reset(st);
	r->decisions++;
	if (d == AED_ANSWER_PRESENT)
		r->labels_verified++;
	if (total >= 2) {
		r->multi_rated++;
		*agreement_sum += agreement;
		if (n_best > 1)
			r->ties++;
	}
	return rc;
}

/* Bring the segment's 'review' labels in line with the labels its ratings
 * add, after a rating of it was stored or replaced. */
static int sync_review_labels(struct imp *im, int64_t segment_id,
			      struct aed_review_import_result *r)
{
	sqlite3_stmt *v[2] = { im->review_del, im->review_ins };
	int rc = AED_OK;

	for (int k = 0; k < 2 && !rc; k++) {
		sqlite3_bind_int64(v[k], 1, segment_id);
		if (sqlite3_step(v[k]) != SQLITE_DONE)
			rc = aed_db_error(im->db, "updating the labels annotators added");
		else if (k == 1)
			r->labels_added += sqlite3_changes(aed_db_sqlite(im->db));
		sqlite3_reset(v[k]);
	}
	return rc;
}

static void goods_release(struct good *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++)
		free(g[i].labels);
	free(g);
}

/* Write the changed ratings of one file and its import row: one transaction,
 * one run. */
static int write_file(struct imp *im, const char *path, const struct aed_ratings *rt,
		      const struct export_row *x, struct good *g, size_t n_good,
		      int64_t *counts, struct aed_review_import_result *r,
		      double *agreement_sum)
{
	struct aed_db *db = im->db;
	int64_t parse_bad = 0;
	sqlite3_stmt *st = NULL;
	int64_t run_id = 0, import_id;
	char now[32], *params = NULL;
	int rc, in_tx = 0;
	size_t i;

	{
		json_t *p = json_pack("{s:s, s:s, s:s}", "file", path, "export_id", rt->export_id,
				      "annotator", rt->annotator);

		params = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(p);
	}
	if ((rc = aed_run_begin(db, "review-import", params ? params : "{}", &run_id)))
		goto out;
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	/* Look again under the write lock: another import may have stored some
	 * of these ratings since the first look. */
	for (i = 0; i < rt->n; i++)
		parse_bad += rt->entries[i].bad != NULL;
	memset(counts, 0, (ENTRY_OLDER + 1) * sizeof *counts);
	counts[ENTRY_BAD] = parse_bad;
	for (i = 0; i < n_good; i++) {
		free(g[i].labels);
		g[i].labels = NULL;
		g[i].n_labels = 0;
		g[i].rating_id = g[i].segment_id = 0;
		if ((rc = classify(im, path, x, rt->annotator, &g[i], NULL)))
			goto out;
		counts[g[i].state]++;
	}
	if (counts[ENTRY_NEW] + counts[ENTRY_UPDATE] == 0)
		goto out; /* the other import stored them all: roll back, write nothing */
	aed_utc_iso8601(now);
	if ((rc = aed_db_prepare(db, "INSERT INTO review_import(export_id, path, sha256, annotator, "
				 "n_entries, n_new, n_updated, n_same, n_bad, run_id, imported_at) "
				 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, x->id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rt->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rt->annotator, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)rt->n);
	sqlite3_bind_int64(st, 6, counts[ENTRY_NEW]);
	sqlite3_bind_int64(st, 7, counts[ENTRY_UPDATE]);
	sqlite3_bind_int64(st, 8, counts[ENTRY_SAME]);
	sqlite3_bind_int64(st, 9, counts[ENTRY_BAD]);
	sqlite3_bind_int64(st, 10, run_id);
	sqlite3_bind_text(st, 11, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "recording the import");
		goto out;
	}
	import_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	for (i = 0; i < n_good; i++)
		if ((g[i].state == ENTRY_NEW || g[i].state == ENTRY_UPDATE) &&
		    (rc = store_rating(im, x, rt->annotator, import_id, &g[i])))
			goto out;
	for (i = 0; i < n_good; i++)
		if ((g[i].state == ENTRY_NEW || g[i].state == ENTRY_UPDATE) &&
		    ((rc = decide_pair(im, x->class_id, g[i].segment_id, now, r, agreement_sum)) ||
		     (rc = sync_review_labels(im, g[i].segment_id, r))))
			goto out;
	rc = aed_db_commit(db);
	in_tx = 0;
out:
	sqlite3_finalize(st);
	if (in_tx)
		aed_db_rollback(db);
	if (run_id) {
		if (rc) {
			char msg[512];

			snprintf(msg, sizeof msg, "%s", aed_last_error());
			aed_run_end(db, run_id, AED_RUN_FAILED, 0, (int64_t)rt->n, msg);
			aed_error(rc, "%s", msg);
		} else {
			rc = aed_run_end(db, run_id, AED_RUN_OK,
					 counts[ENTRY_NEW] + counts[ENTRY_UPDATE], counts[ENTRY_BAD],
					 NULL);
		}
	}
	free(params);
	return rc;
}

/* One ratings file's bytes (data may be NULL when reading it failed with
 * read_rc): parsed, checked and stored. path names it in messages and in
 * review_import. */
static int import_bytes(struct aed_db *db, const char *path, int read_rc, const char *data,
			size_t n, struct aed_review_import_result *r, double *agreement_sum)
{
	struct aed_ratings *rt = NULL;
	struct export_row x = { 0 };
	struct good *g = NULL;
	struct imp im = { 0 };
	int64_t counts[ENTRY_OLDER + 1] = { 0 };
	size_t i, n_good = 0;
	int rc = read_rc, found, in_read = 0;

	r->files++;
	if (!rc)
		rc = aed_ratings_parse(data, n, path, &rt);
	if (rc) {
		/* An unreadable, oversized or malformed file: nothing of it is stored. */
		r->files_rejected++;
		rc = add_msg(r, "%s (file rejected, nothing imported)", aed_last_error());
		goto out;
	}
	r->entries += (int64_t)rt->n;
	if ((rc = find_export(db, rt->export_id, &x, &found)))
		goto out;
	if (!found || strcmp(x.checksum, rt->checksum) || strcmp(x.mid, rt->class_mid)) {
		char ex[96], cx[96], mx[96];

		excerpt(rt->export_id, ex);
		r->files_rejected++;
		r->bad += (int64_t)rt->n;
		if (!found) {
			rc = add_msg(r, "%s: export id %s is not an export of this database (a file "
				     "from another export): all %zu entries rejected", path, ex, rt->n);
		} else if (strcmp(x.checksum, rt->checksum)) {
			excerpt(rt->checksum, cx);
			rc = add_msg(r, "%s: checksum %s does not match export %s's candidate set "
				     "(tampered or edited): all %zu entries rejected", path, cx, ex,
				     rt->n);
		} else {
			excerpt(rt->class_mid, cx);
			excerpt(x.mid, mx);
			rc = add_msg(r, "%s: class %s is not the class of export %s (%s): all %zu "
				     "entries rejected", path, cx, ex, mx, rt->n);
		}
		goto out;
	}
	if (rt->n && !(g = calloc(rt->n, sizeof *g))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	/* The first look reads in one transaction: statement by statement,
	 * SQLite would take and drop its file locks for every lookup. */
	if ((rc = imp_prepare(db, &im)) || (rc = aed_db_exec(db, "BEGIN DEFERRED")))
		goto out;
	in_read = 1;
	for (i = 0; i < rt->n; i++) {
		struct aed_rating_entry *e = &rt->entries[i];

		if (e->bad) {
			char ex[96];

			excerpt(e->candidate, ex);
			counts[ENTRY_BAD]++;
			if ((rc = add_msg(r, "%s: entry %zu (%s): %s", path, e->index,
					  *ex ? ex : "?", e->bad)))
				goto out;
			continue;
		}
		g[n_good].e = e;
		if ((rc = classify(&im, path, &x, rt->annotator, &g[n_good], r)))
			goto out;
		counts[g[n_good].state]++;
		n_good++;
	}
	in_read = 0;
	if ((rc = aed_db_exec(db, "COMMIT")))
		goto out;
	/* Nothing changes: nothing is written, not even a run. */
	if (counts[ENTRY_NEW] + counts[ENTRY_UPDATE] > 0 &&
	    (rc = write_file(&im, path, rt, &x, g, n_good, counts, r, agreement_sum)))
		goto out;
	r->bad += counts[ENTRY_BAD];
	r->same += counts[ENTRY_SAME];
	r->older += counts[ENTRY_OLDER];
	r->new_ratings += counts[ENTRY_NEW];
	r->updated += counts[ENTRY_UPDATE];
out:
	if (in_read)
		sqlite3_exec(aed_db_sqlite(db), "ROLLBACK", NULL, NULL, NULL);
	imp_release(&im);
	goods_release(g, n_good);
	aed_ratings_free(&rt);
	return rc;
}

static int import_file(struct aed_db *db, const char *path, struct aed_review_import_result *r,
		       double *agreement_sum)
{
	char *data = NULL;
	size_t n = 0;
	int rc = aed_read_file(path, AED_RATINGS_MAX_SOURCE, &data, &n);

	rc = import_bytes(db, path, rc, data, n, r, agreement_sum);
	free(data);
	return rc;
}

int aed_review_import(struct aed_db *db, const char *const *paths, size_t n_paths,
		      struct aed_review_import_result *r)
{
	double agreement_sum = 0;
	int rc = AED_OK;

	memset(r, 0, sizeof *r);
	for (size_t i = 0; i < n_paths && !rc; i++)
		rc = import_file(db, paths[i], r, &agreement_sum);
	r->mean_agreement = r->multi_rated ? agreement_sum / (double)r->multi_rated : 0.0;
	return rc;
}

int aed_review_import_data(struct aed_db *db, const char *name, const char *data, size_t n,
			   struct aed_review_import_result *r)
{
	double agreement_sum = 0;
	int rc;

	memset(r, 0, sizeof *r);
	rc = import_bytes(db, name, AED_OK, data, n, r, &agreement_sum);
	r->mean_agreement = r->multi_rated ? agreement_sum / (double)r->multi_rated : 0.0;
	return rc;
}

/* --- status ------------------------------------------------------------------ */

void aed_review_status_release(struct aed_review_status *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->runs[i].name);
	free(s->runs);
	memset(s, 0, sizeof *s);
}

int aed_review_status_get(struct aed_db *db, int64_t class_id, struct aed_review_status *s)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	memset(s, 0, sizeof *s);
	if ((rc = aed_db_prepare(db,
		"SELECT m.id, m.class_id, c.mid, c.name, count(k.segment_id), count(d.decision), "
		"  coalesce(sum(d.decision = 'present'), 0), "
		"  coalesce(sum(d.decision = 'not_present'), 0), "
		"  coalesce(sum(d.decision = 'unsure'), 0), "
		"  coalesce(sum(d.decision = 'not_acoustic'), 0), "
		"  coalesce(sum(d.n_ratings), 0), "
		"  avg(CASE WHEN d.n_ratings >= 2 THEN d.agreement END) "
		"FROM mine_run m LEFT JOIN class c ON c.id = m.class_id "
		"LEFT JOIN candidate k ON k.mine_run_id = m.id "
		"LEFT JOIN review_decision d ON d.class_id = m.class_id AND d.segment_id = k.segment_id "
		"WHERE ?1 = 0 OR m.class_id = ?1 GROUP BY m.id ORDER BY m.id", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct aed_review_run_status *v, *x;
		int64_t judged;

		if (!(v = realloc(s->runs, (s->n + 1) * sizeof *v))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		s->runs = v;
		x = &s->runs[s->n];
		memset(x, 0, sizeof *x);
		x->mine_run_id = sqlite3_column_int64(st, 0);
		x->class_id = sqlite3_column_int64(st, 1);
		snprintf(x->mid, sizeof x->mid, "%s", col(st, 2));
		if (!(x->name = xstrdup(col(st, 3)))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		s->n++;
		x->candidates = sqlite3_column_int64(st, 4);
		x->rated = sqlite3_column_int64(st, 5);
		for (int i = 0; i < AED_ANSWER_COUNT; i++)
			x->by_decision[i] = sqlite3_column_int64(st, 6 + i);
		x->ratings = sqlite3_column_int64(st, 10);
		x->mean_agreement = sqlite3_column_type(st, 11) == SQLITE_NULL
					    ? -1.0 : sqlite3_column_double(st, 11);
		/* Unsure answers say nothing about precision; not acoustic ones
		 * are not examples of the class. */
		judged = x->rated - x->by_decision[AED_ANSWER_UNSURE];
		x->precision = judged > 0
				       ? (double)x->by_decision[AED_ANSWER_PRESENT] / (double)judged
				       : -1.0;
	}
	if (step != SQLITE_DONE)
		rc = aed_db_error(db, "reading review status");
out:
	sqlite3_finalize(st);
	if (rc)
		aed_review_status_release(s);
	return rc;
}
