/* segments.c - `aedcurate segments ingest|list`: argv to options, then the
 * segment-list stage (src/stage/segments/) or a read-only query, and the
 * human or --json rendering of the result. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/class.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

static int print_json(json_t *j)
{
	int rc = AED_OK;

	if (!j)
		return aed_error(AED_ENOMEM, "out of memory building JSON");
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		rc = aed_error(AED_EIO, "writing JSON to stdout failed");
	else
		fputc('\n', stdout);
	json_decref(j);
	return rc;
}

/* --- ingest --------------------------------------------------------------- */

/* The stage's options, and what needs converting into them. */
struct ingest_cli {
	struct aed_segments_opts s;
	const char *format;
	int examples;
	int max_errors;
};

#define O(f) offsetof(struct ingest_cli, f)
static const struct aed_opt ingest_table[] = {
	{ "split", 's', AED_OPT_STR, O(s.split), "NAME",
	  "add every segment of the file to this split (train, eval, ...)" },
	{ "format", 'f', AED_OPT_STR, O(format), "FMT", "csv | strong | manifest",
	  .def_note = "detected from the first line" },
	{ "columns", 'c', AED_OPT_STR, O(s.columns), "MAP",
	  "manifest column map ROLE=COLUMN,... (roles: path start end labels id group)" },
	{ "cut", 0, AED_OPT_FLAG, O(s.cut), NULL,
	  "manifest files are whole recordings: start/end select the clip inside them" },
	{ "strict", 0, AED_OPT_FLAG, O(s.strict), NULL,
	  "the first bad row aborts the ingest; nothing is written" },
	{ "ontology-examples", 0, AED_OPT_FLAG, O(examples), NULL,
	  "instead of SOURCE: the ontology's positive examples of the CLASSes (all: none given)" },
	{ "max-errors", 0, AED_OPT_INT, O(max_errors), "N", "print at most N bad-row messages (0: only their count)",
	  .def.i = AED_SEGMENTS_MAX_ERRORS_DEFAULT, AED_OPT_AT_LEAST(0) },
	{ "timeout", 0, AED_OPT_LONG, O(s.timeout_s), "S", "give up on a download after S seconds",
	  AED_OPT_AT_LEAST(0), .def_note = "120 s, 15 s to connect, 30 s without data" },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec ingest_spec = {
	.name = "segments ingest",
	.args = "SOURCE | --ontology-examples [CLASS...]",
	.summary = "Load a segment list: AudioSet CSV, strong-label TSV or a manifest.",
	.details =
		"SOURCE is a path, a file:// URL or an http(s):// URL. Formats:\n"
		"  csv       YTID, start_seconds, end_seconds, \"mid,mid\"  ('#' comments)\n"
		"  strong    segment_id<TAB>start_time_seconds<TAB>end_time_seconds<TAB>label\n"
		"  manifest  CSV with a header: path (required), start, end, labels, id, group;\n"
		"            other columns are kept as JSON in segment.meta. Relative paths are\n"
		"            resolved against the manifest's directory. --columns maps roles to\n"
		"            a foreign manifest's own column names, e.g.\n"
		"            --columns path=file,labels=audioset_mid,group=fsID\n"
		"Each bad row (field count, time, end <= start, unknown class, duplicate\n"
		"segment, ...) is reported as FILE:LINE: reason and skipped; --strict stops at\n"
		"the first one and writes nothing. A segment already stored gains the split\n"
		"and the labels. Re-ingesting a file adds no rows but the ingest log.\n"
		"--ontology-examples: the positive examples the ontology lists for each CLASS\n"
		"(name or mid; youtu.be/ID?start=S&end=E) become AudioSet segments ID_{S ms},\n"
		"labelled with the class (source ontology), in split " AED_EXAMPLES_SPLIT ". Fetch\n"
		"them from your mirror or download command, e.g.\n"
		"  aedcurate fetch --split " AED_EXAMPLES_SPLIT " --url 'https://mirror/{key}.flac'\n"
		"then decode, features, embed and index build: mine --class CLASS takes them\n"
		"as exemplars.",
	.opts = ingest_table,
	.min_args = 0,
	.max_args = -1,
};

static int ingest_json(const struct aed_segments_opts *so, const struct aed_segments_result *r)
{
	json_t *bad = json_object(), *msgs = json_array(), *j;

	if (!bad || !msgs) {
		json_decref(bad);
		json_decref(msgs);
		return aed_error(AED_ENOMEM, "out of memory building JSON");
	}
	for (int i = 0; i < AED_BAD_COUNT; i++)
		if (r->bad_by[i])
			json_object_set_new(bad, aed_bad_reason_name(i), json_integer(r->bad_by[i]));
	for (size_t i = 0; i < r->n_messages; i++)
		json_array_append_new(msgs, json_string(r->messages[i]));
	j = json_pack("{s:s, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:I, s:I}",
		      "source", so->source,
		      "format", aed_seg_format_name(r->format),
		      "split", so->split,
		      "rows", (json_int_t)r->rows,
		      "ingested", (json_int_t)r->ingested,
		      "segments_new", (json_int_t)r->segments_new,
		      "segments_existing", (json_int_t)r->segments_seen,
		      "labels", (json_int_t)r->labels,
		      "strong_labels", (json_int_t)r->strong_labels,
		      "bad", (json_int_t)r->bad,
		      "bad_by_reason", bad,
		      "messages", msgs,
		      "sha256", r->sha256,
		      "run_id", (json_int_t)r->run_id,
		      "source_id", (json_int_t)r->source_id);
	return print_json(j);
}

int cmd_segments_ingest(struct aed_ctx *ctx, int argc, char **argv)
{
	struct ingest_cli o = { 0 };
	struct aed_segments_opts *so = &o.s;
	struct aed_segments_result r = { 0 };
	int nargs = 0, rc;

	aed_segments_opts_init(so);
	if ((rc = aed_parse(ctx, &ingest_spec, argc, argv, &o, &nargs)))
		return rc;
	if (!o.examples && nargs != 1)
		return aed_error(AED_EUSAGE, "segments ingest: give one SOURCE (or --ontology-examples "
				 "[CLASS...]); see --help");
	if (o.examples && (o.format || so->columns || so->cut))
		return aed_error(AED_EUSAGE, "segments ingest: --ontology-examples takes no --format, "
				 "--columns or --cut");
	so->source = o.examples ? "ontology:positive_examples" : argv[0];
	so->max_errors = (size_t)o.max_errors;
	so->progress = !ctx->g.quiet;
	if (o.format && (rc = aed_seg_format_parse(o.format, &so->format)))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, 0)))
		return rc;
	if (o.examples) {
		rc = aed_segments_ingest_examples(ctx->db, (const char *const *)argv, (size_t)nargs,
						  so, &r);
		if (!so->split)
			so->split = AED_EXAMPLES_SPLIT; /* for the report */
	} else {
		rc = aed_segments_ingest(ctx->db, so, &r);
	}
	/* Bad rows go to stderr whether or not the ingest went through. */
	for (size_t i = 0; i < r.n_messages; i++)
		fprintf(stderr, "%s\n", r.messages[i]);
	if (r.bad > (int64_t)r.n_messages && !so->strict)
		fprintf(stderr, "... and %lld more bad rows\n", (long long)(r.bad - (int64_t)r.n_messages));
	if (rc)
		goto out;
	if (ctx->g.json) {
		rc = ingest_json(so, &r);
	} else {
		printf("%s (%s): %lld rows, %lld ingested, %lld bad; %lld new segments, "
		       "%lld already stored, %lld labels, %lld strong labels added\n",
		       so->source, aed_seg_format_name(r.format), (long long)r.rows,
		       (long long)r.ingested, (long long)r.bad, (long long)r.segments_new,
		       (long long)r.segments_seen, (long long)r.labels, (long long)r.strong_labels);
		if (r.bad) {
			printf("bad rows by reason:");
			for (int i = 0; i < AED_BAD_COUNT; i++)
				if (r.bad_by[i])
					printf(" %s %lld", aed_bad_reason_name(i), (long long)r.bad_by[i]);
			printf("\n");
		}
	}
out:
	aed_segments_result_release(&r);
	return rc;
}

/* --- list ----------------------------------------------------------------- */

struct list_opts {
	const char *split;
	const char *klass;
	long limit;
};

static const struct aed_opt list_table[] = {
	{ "split", 's', AED_OPT_STR, offsetof(struct list_opts, split), "NAME",
	  "only segments of this split" },
	{ "class", 'c', AED_OPT_STR, offsetof(struct list_opts, klass), "NAME|MID",
	  "only segments labelled with this class (name or mid, any case) or a descendant of it" },
	{ "limit", 'n', AED_OPT_LONG, offsetof(struct list_opts, limit), "N",
	  "print at most N segments", AED_OPT_AT_LEAST(0), .def_note = "all" },
	{ 0 }
};

static const struct aed_cmd_spec list_spec = {
	.name = "segments list",
	.args = "",
	.summary = "List segments: key, start, end, labels (mids), path.",
	.details = "One tab-separated line per segment, in id order; with --json an array\n"
		   "whose rows also give each label's sources (weak, manifest, strong,\n"
		   "verified, review, ontology) and, for labels annotators added on a review\n"
		   "page (source review), who added them.",
	.opts = list_table,
	.min_args = 0,
	.max_args = 0,
};

static void put_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

/* A JSON object SQLite built, or {} (none, or unreadable). */
static json_t *json_or_object(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;

	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j ? j : json_object();
}

int cmd_segments_list(struct aed_ctx *ctx, int argc, char **argv)
{
	struct list_opts o = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	int64_t class_id = 0;
	int nargs = 0, rc, s;
	long n = 0;

	if ((rc = aed_parse(ctx, &list_spec, argc, argv, &o, &nargs)))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)))
		return rc;
	if (o.klass && (rc = aed_class_resolve(ctx->db, o.klass, &class_id)))
		return rc;
	rc = aed_db_prepare(ctx->db,
		"SELECT s.key, s.start_ms, s.end_ms, s.path, "
		"  (SELECT group_concat(mid, ',') FROM (SELECT DISTINCT c.mid FROM label l "
		"     JOIN class c ON c.id = l.class_id WHERE l.segment_id = s.id ORDER BY c.mid)), "
		/* --json only: {mid: [source, ...]} and {mid: [annotator, ...]} */
		"  CASE WHEN ?3 THEN (SELECT json_group_object(mid, json(v)) FROM (SELECT c.mid, "
		"     json_group_array(l.source) AS v FROM (SELECT * FROM label WHERE segment_id = "
		"     s.id ORDER BY source) l JOIN class c ON c.id = l.class_id GROUP BY c.mid)) END, "
		"  CASE WHEN ?3 THEN (SELECT json_group_object(mid, json(v)) FROM (SELECT c.mid, "
		"     json_group_array(DISTINCT r.annotator) AS v FROM (SELECT * FROM review_label "
		"     WHERE segment_id = s.id ORDER BY annotator) r JOIN class c ON c.id = r.class_id "
		"     JOIN label l ON l.segment_id = r.segment_id AND l.class_id = r.class_id AND "
		"     l.source = 'review' GROUP BY c.mid)) END "
		"FROM segment s "
		"WHERE (?1 IS NULL OR s.id IN (SELECT ss.segment_id FROM segment_split ss "
		"        JOIN split p ON p.id = ss.split_id WHERE p.name = ?1)) "
		"  AND (?2 = 0 OR s.id IN (SELECT l.segment_id FROM label l WHERE l.class_id = ?2 "
		"        OR l.class_id IN (SELECT descendant_id FROM class_closure "
		"                          WHERE ancestor_id = ?2))) "
		"ORDER BY s.id", &st);
	if (rc)
		return rc;
	if (o.split)
		sqlite3_bind_text(st, 1, o.split, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, class_id);
	sqlite3_bind_int(st, 3, ctx->g.json);
	if (ctx->g.json && !(arr = json_array())) {
		rc = aed_error(AED_ENOMEM, "out of memory building JSON");
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW && (o.limit == 0 || n < o.limit)) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *path = (const char *)sqlite3_column_text(st, 3);
		const char *labels = (const char *)sqlite3_column_text(st, 4);
		int64_t start = sqlite3_column_int64(st, 1);
		int has_end = sqlite3_column_type(st, 2) != SQLITE_NULL;
		int64_t end = sqlite3_column_int64(st, 2);

		n++;
		if (arr) {
			const char *src = (const char *)sqlite3_column_text(st, 5);
			const char *who = (const char *)sqlite3_column_text(st, 6);
			json_t *row = json_pack("{s:s, s:f, s:o, s:s, s:s?, s:o, s:o}", "key", key,
						"start_s", start / 1000.0,
						"end_s", has_end ? json_real(end / 1000.0) : json_null(),
						"labels", labels ? labels : "", "path", path,
						"label_sources", json_or_object(src),
						"added_by", json_or_object(who));
			if (!row || json_array_append_new(arr, row)) {
				rc = aed_error(AED_ENOMEM, "out of memory building JSON");
				goto out;
			}
			continue;
		}
		put_text(stdout, key);
		printf("\t%lld.%03lld\t", (long long)(start / 1000), (long long)(start % 1000));
		if (has_end)
			printf("%lld.%03lld", (long long)(end / 1000), (long long)(end % 1000));
		printf("\t%s\t", labels ? labels : "");
		put_text(stdout, path ? path : "");
		putchar('\n');
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = aed_db_error(ctx->db, "listing segments");
		goto out;
	}
	if (arr) {
		rc = print_json(arr);
		arr = NULL;
	}
out:
	json_decref(arr);
	sqlite3_finalize(st);
	return rc;
}
