/* test_ontology.c - the ontology parsers (positive examples, ontology.json,
 * class_labels_indices.csv) case by case, and the store: resolution by mid
 * and name, closure, idempotence, in-place updates and rollback on refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aedcurate/class.h"
#include "aedcurate/error.h"
#include "aedcurate/ontology.h"
#include "aedcurate/store.h"

/* --- positive examples: input, ok?, ytid, start, end, error fragment ------ */
static const struct {
	const char *in;
	int ok;
	const char *ytid;
	int64_t start_ms, end_ms;
	const char *err;
} yt_cases[] = {
	{ "youtu.be/8uI9H5jGRV8?start=30&end=40", 1, "8uI9H5jGRV8", 30000, 40000, NULL },
	{ "https://youtu.be/a-b_c?end=2.5&start=1.25", 1, "a-b_c", 1250, 2500, NULL },
	{ "http://youtu.be/x?start=0&end=0.001", 1, "x", 0, 1, NULL },
	{ "youtu.be/x?si=abc&start=5&end=6", 1, "x", 5000, 6000, NULL },
	{ "youtu.be/x?start=30", 0, NULL, 0, 0, "needs both" },
	{ "youtu.be/x?start=40&end=30", 0, NULL, 0, 0, "end is not after start" },
	{ "youtu.be/x?start=30&end=30", 0, NULL, 0, 0, "end is not after start" },
	{ "youtu.be/x?start=1&start=2&end=3", 0, NULL, 0, 0, "start given twice" },
	{ "youtu.be/x?start=1.2345&end=3", 0, NULL, 0, 0, "start must be seconds" },
	{ "youtu.be/x?start=-1&end=3", 0, NULL, 0, 0, "start must be seconds" },
	{ "youtu.be/x?start=1e3&end=3", 0, NULL, 0, 0, "start must be seconds" },
	{ "youtu.be/x?start=1&end=9999999999", 0, NULL, 0, 0, "end must be seconds" },
	{ "youtu.be/?start=1&end=2", 0, NULL, 0, 0, "video id" },
	{ "youtu.be/a b?start=1&end=2", 0, NULL, 0, 0, "expected '?'" },
	{ "youtube.com/watch?v=x", 0, NULL, 0, 0, "expected youtu.be/" },
	{ "", 0, NULL, 0, 0, "expected youtu.be/" },
	{ "youtu.be/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx?start=1&end=2",
	  0, NULL, 0, 0, "video id" },
};

static void test_youtube_examples(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof yt_cases / sizeof *yt_cases; i++) {
		char ytid[AED_ONTO_MAX_YTID + 1];
		int64_t s = -1, e = -1;
		int rc = aed_youtube_example_parse(yt_cases[i].in, ytid, &s, &e);

		if (yt_cases[i].ok) {
			if (rc)
				fail_msg("%s: %s", yt_cases[i].in, aed_last_error());
			assert_string_equal(ytid, yt_cases[i].ytid);
			assert_int_equal(s, yt_cases[i].start_ms);
			assert_int_equal(e, yt_cases[i].end_ms);
		} else {
			assert_int_equal(rc, AED_EFORMAT);
			if (!strstr(aed_last_error(), yt_cases[i].err))
				fail_msg("%s: message '%s' lacks '%s'", yt_cases[i].in,
					 aed_last_error(), yt_cases[i].err);
		}
	}
}

/* --- ontology.json: input, status, error fragment ------------------------- */
static const struct {
	const char *json;
	int status;
	const char *err;
} onto_cases[] = {
	{ "[{\"id\":\"/a\",\"name\":\"A\"}]", AED_OK, NULL },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"child_ids\":[\"/b\"]},{\"id\":\"/b\",\"name\":\"B\"}]", AED_OK, NULL },
	{ "", AED_EFORMAT, "t.json:" },
	{ "[", AED_EFORMAT, "t.json:1:" },
	{ "[]", AED_EFORMAT, "no classes" },
	{ "{}", AED_EFORMAT, "not an object" },
	{ "\"x\"", AED_EFORMAT, "t.json:1:3: invalid JSON" },
	{ "[1]", AED_EFORMAT, "class #1: expected an object, not an integer" },
	{ "[{\"name\":\"A\"}]", AED_EFORMAT, "missing \"id\"" },
	{ "[{\"id\":\"/a\"}]", AED_EFORMAT, "class #1 (/a): missing \"name\"" },
	{ "[{\"id\":\"\",\"name\":\"A\"}]", AED_EFORMAT, "\"id\" is empty" },
	{ "[{\"id\":\"/a\",\"name\":\"\"}]", AED_EFORMAT, "\"name\" is empty" },
	{ "[{\"id\":\"/a,b\",\"name\":\"A\"}]", AED_EFORMAT, "comma" },
	{ "[{\"id\":7,\"name\":\"A\"}]", AED_EFORMAT, "\"id\" must be a string, not an integer" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"description\":null}]", AED_EFORMAT,
	  "\"description\" must be a string, not null" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"restrictions\":\"abstract\"}]", AED_EFORMAT,
	  "\"restrictions\" must be an array" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"restrictions\":[true]}]", AED_EFORMAT,
	  "\"restrictions\"[0] must be a string, not a boolean" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"child_ids\":[1.5]}]", AED_EFORMAT,
	  "\"child_ids\"[0] must be a string, not a number" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"positive_examples\":[\"nope\"]}]", AED_EFORMAT,
	  "class #1 (/a): positive example #1: \"nope\"" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"child_ids\":[\"/a\"]}]", AED_EFORMAT, "cycle: /a -> /a" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"child_ids\":[\"/b\",\"/b\"]},{\"id\":\"/b\",\"name\":\"B\"}]",
	  AED_EFORMAT, "lists child /b twice" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"child_ids\":[\"/x\",\"/y\"]}]", AED_EFORMAT,
	  "2 bad child ids: class #1 (/a) lists child \"/x\", which is no class in the file; "
	  "class #1 (/a) lists child \"/y\"" },
	{ "[{\"id\":\"/a\",\"name\":\"A\"},{\"id\":\"/a\",\"name\":\"B\"},{\"id\":\"/a\",\"name\":\"C\"}]",
	  AED_EFORMAT, "2 duplicate ids: /a (classes #1 and #2); /a (classes #1 and #3)" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"child_ids\":[\"/b\"]},"
	  "{\"id\":\"/b\",\"name\":\"B\",\"child_ids\":[\"/c\"]},"
	  "{\"id\":\"/c\",\"name\":\"C\",\"child_ids\":[\"/b\"]}]", AED_EFORMAT, "cycle: /b -> /c -> /b" },
	{ "[{\"id\":\"/a\",\"name\":\"A\",\"id\":\"/b\"}]", AED_EFORMAT, "duplicate object key" },
	{ "[{\"id\":\"/a\",\"name\":\"A\"}] x", AED_EFORMAT, "end of file expected" },
};

static void test_ontology_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof onto_cases / sizeof *onto_cases; i++) {
		struct aed_ontology *o = (void *)1;
		int rc = aed_ontology_parse(onto_cases[i].json, strlen(onto_cases[i].json),
					    "t.json", &o);

		if (rc != onto_cases[i].status)
			fail_msg("case %zu %s: status %d (%s), expected %d", i, onto_cases[i].json,
				 rc, aed_last_error(), onto_cases[i].status);
		if (rc) {
			assert_null(o);
			if (!strstr(aed_last_error(), onto_cases[i].err))
				fail_msg("case %zu: message '%s' lacks '%s'", i, aed_last_error(),
					 onto_cases[i].err);
		} else {
			assert_non_null(o);
		}
		aed_ontology_free(&o);
		assert_null(o);
	}
}

/* A diamond with an extra shortcut: r -> a, r -> b, a -> d, b -> d, r -> d. */
static const char diamond[] =
	"[{\"id\":\"/r\",\"name\":\"Root\",\"child_ids\":[\"/a\",\"/b\",\"/d\"],\"restrictions\":[\"abstract\"]},"
	" {\"id\":\"/a\",\"name\":\"Toothbrush\",\"child_ids\":[\"/d\"],"
	"  \"positive_examples\":[\"youtu.be/AAAAAAAAAAA?start=1&end=2\",\"youtu.be/AAAAAAAAAAA?start=1&end=2\"]},"
	" {\"id\":\"/b\",\"name\":\"Motor\",\"child_ids\":[\"/d\"],\"extra\":1},"
	" {\"id\":\"/d\",\"name\":\"Electric toothbrush\",\"restrictions\":[\"blacklist\"],\"more\":{}},"
	" {\"id\":\"/z\",\"name\":\"Lone\"}]";

static void test_ontology_structure(void **state)
{
	struct aed_ontology *o = NULL;
	size_t idx[5], n;
	int depth[5];

	(void)state;
	assert_int_equal(aed_ontology_parse(diamond, strlen(diamond), "d.json", &o), AED_OK);
	assert_int_equal(o->n_classes, 5);
	assert_int_equal(o->n_edges, 5);
	assert_int_equal(o->n_abstract, 1);
	assert_int_equal(o->n_blacklist, 1);
	assert_int_equal(o->n_examples, 2);
	assert_int_equal(o->n_unknown_keys, 2);
	assert_string_equal(o->first_unknown_key, "extra");
	assert_int_equal(o->classes[3].n_parents, 3);
	assert_int_equal(aed_ontology_find(o, "/d"), 3);
	assert_int_equal(aed_ontology_find(o, "/nope"), -1);
	/* closure: r:4, a:2, b:2, d:1, z:1 */
	assert_int_equal(o->n_closure, 10);
	assert_int_equal(aed_ontology_descendants(o, 0, idx, depth, &n), AED_OK);
	assert_int_equal(n, 4);
	assert_int_equal(idx[0], 0);
	assert_int_equal(depth[0], 0);
	assert_int_equal(idx[3], 3); /* /d reached at depth 1 via the shortcut */
	assert_int_equal(depth[3], 1);
	assert_string_equal(o->classes[1].examples[0].ytid, "AAAAAAAAAAA");
	aed_ontology_free(&o);
}

/* --- class_labels_indices.csv --------------------------------------------- */
static const struct {
	const char *csv;
	int status;
	size_t n;
	const char *err;
} label_cases[] = {
	{ "index,mid,display_name\n0,/a,\"A, with comma\"\n1,/b,B\n", AED_OK, 2, NULL },
	{ "\xEF\xBB\xBFindex,mid,display_name\r\n0,/a,\"say \"\"hi\"\"\"\r\n\r\n", AED_OK, 1, NULL },
	{ "0,/a,A\n", AED_OK, 1, NULL },
	{ "index,mid,display_name\n", AED_EFORMAT, 0, "no rows" },
	{ "", AED_EFORMAT, 0, "no rows" },
	{ "index,mid,display_name\n0,/a\n", AED_EFORMAT, 0, "l.csv:2: expected 3 fields" },
	{ "index,mid,display_name\n0,/a,A,x\n", AED_EFORMAT, 0, "found more than 3" },
	{ "index,mid,display_name\n0,/a,\"A\n", AED_EFORMAT, 0, "l.csv:2: bad quoting" },
	{ "index,mid,display_name\n0,/a,A\"B\n", AED_EFORMAT, 0, "l.csv:2: bad quoting" },
	{ "index,mid,display_name\n-1,/a,A\n", AED_EFORMAT, 0, "l.csv:2: index \"-1\"" },
	{ "index,mid,display_name\n1x,/a,A\n", AED_EFORMAT, 0, "index \"1x\"" },
	{ "index,mid,display_name\n0,,A\n", AED_EFORMAT, 0, "is not a mid" },
	{ "index,mid,display_name\n0,/a,A\n1,/a,B\n", AED_EFORMAT, 0, "mid /a on lines 2 and 3" },
	{ "index,mid,display_name\n5,/a,A\n5,/b,B\n", AED_EFORMAT, 0, "index 5 on lines 2 and 3" },
};

static void test_labels_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof label_cases / sizeof *label_cases; i++) {
		struct aed_class_labels *l = NULL;
		int rc = aed_class_labels_parse(label_cases[i].csv, strlen(label_cases[i].csv),
						"l.csv", &l);

		if (rc != label_cases[i].status)
			fail_msg("case %zu: status %d (%s)", i, rc, aed_last_error());
		if (rc) {
			assert_null(l);
			if (!strstr(aed_last_error(), label_cases[i].err))
				fail_msg("case %zu: message '%s' lacks '%s'", i, aed_last_error(),
					 label_cases[i].err);
		} else {
			assert_int_equal(l->n, label_cases[i].n);
		}
		aed_class_labels_free(&l);
	}
	{
		struct aed_class_labels *l = NULL;
		const char *csv = "index,mid,display_name\n0,/a,\"A, \"\"quoted\"\"\"\n7,/b,B\n";

		assert_int_equal(aed_class_labels_parse(csv, strlen(csv), "l.csv", &l), AED_OK);
		assert_string_equal(l->rows[0].display_name, "A, \"quoted\"");
		assert_int_equal(l->rows[1].index, 7);
		assert_int_equal(l->rows[1].line, 3);
		aed_class_labels_free(&l);
	}
}

/* --- the store ------------------------------------------------------------ */
static char dir[256], path[300];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/aedonto.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static int64_t count(struct aed_db *db, const char *sql)
{
	int64_t v = -1;

	if (aed_db_int(db, sql, &v))
		fail_msg("%s: %s", sql, aed_last_error());
	return v;
}

static struct aed_ontology *parse(const char *json)
{
	struct aed_ontology *o = NULL;

	if (aed_ontology_parse(json, strlen(json), "t.json", &o))
		fail_msg("parse: %s", aed_last_error());
	return o;
}

static void test_store_and_resolve(void **state)
{
	struct aed_db *db = NULL;
	struct aed_ontology *o = parse(diamond), *o2, *o3;
	struct aed_ontology_ingest_result res;
	struct aed_class_labels *l = NULL;
	const char *csv = "index,mid,display_name\n0,/a,A\n1,/d,D\n";
	int64_t id, id_a, id_d, *ids = NULL;
	size_t n;
	char *mid = NULL, *name = NULL;

	(void)state;
	assert_int_equal(aed_db_open(path, AED_DB_CREATE, &db), AED_OK);
	assert_int_equal(aed_class_resolve(db, "Motor", &id), AED_ESTATE);
	assert_int_equal(aed_class_labels_parse(csv, strlen(csv), "l.csv", &l), AED_OK);
	assert_int_equal(aed_ontology_store(db, o, l, "d.json", &res), AED_OK);
	assert_int_equal(res.unchanged, 0);
	assert_int_equal(res.n_added, 5);
	assert_int_equal(count(db, "SELECT count(*) FROM class"), 5);
	assert_int_equal(count(db, "SELECT count(*) FROM class_edge"), 5);
	assert_int_equal(count(db, "SELECT count(*) FROM class_closure"), 10);
	assert_int_equal(count(db, "SELECT count(*) FROM class_example"), 1); /* a repeat */
	assert_int_equal(count(db, "SELECT label_index FROM class WHERE mid = '/d'"), 1);

	/* resolution: exact mid, name, case, substring, ambiguity */
	assert_int_equal(aed_class_resolve(db, "/a", &id_a), AED_OK);
	assert_int_equal(aed_class_resolve(db, "toothbrush", &id), AED_OK);
	assert_int_equal(id, id_a);
	assert_int_equal(aed_class_resolve(db, "ELECTRIC TOOTHBRUSH", &id_d), AED_OK);
	assert_int_equal(aed_class_resolve(db, "electric", &id), AED_OK);
	assert_int_equal(id, id_d);
	assert_int_equal(aed_class_resolve(db, "o", &id), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "ambiguous"));
	assert_non_null(strstr(aed_last_error(), "/b  Motor"));
	assert_int_equal(aed_class_resolve(db, "nothing like it", &id), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "no class matches \"nothing like it\""));
	assert_non_null(strstr(aed_last_error(), "ontology search"));
	assert_int_equal(aed_class_resolve(db, "", &id), AED_EUSAGE);
	assert_int_equal(aed_class_resolve(db, " \t ", &id), AED_EUSAGE);
	/* a mid in another case, and blanks around a pasted mid or name */
	assert_int_equal(aed_class_resolve(db, "/D", &id), AED_OK);
	assert_int_equal(id, id_d);
	assert_int_equal(aed_class_resolve(db, " /d\t", &id), AED_OK);
	assert_int_equal(id, id_d);
	assert_int_equal(aed_class_resolve(db, "  Toothbrush \n", &id), AED_OK);
	assert_int_equal(id, id_a);
	assert_int_equal(aed_class_id_by_mid(db, "/d", &id), AED_OK);
	assert_int_equal(id, id_d);
	assert_int_equal(aed_class_id_by_mid(db, "/D", &id), AED_ENOTFOUND);
	assert_int_equal(aed_class_mid_name(db, id_d, &mid, &name), AED_OK);
	assert_string_equal(mid, "/d");
	assert_string_equal(name, "Electric toothbrush");
	free(mid);
	free(name);

	/* closure helpers */
	assert_int_equal(aed_class_descendants(db, id_a, &ids, &n), AED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], id_a);
	assert_int_equal(ids[1], id_d);
	free(ids);
	assert_int_equal(aed_class_ancestors(db, id_d, &ids, &n), AED_OK);
	assert_int_equal(n, 4);
	assert_int_equal(ids[0], id_d);
	free(ids);

	/* same bytes: nothing written */
	assert_int_equal(aed_ontology_store(db, o, l, "d.json", &res), AED_OK);
	assert_int_equal(res.unchanged, 1);
	assert_int_equal(count(db, "SELECT count(*) FROM ontology_version"), 1);

	/* a newer file without /z and /b, /d renamed: in place */
	o2 = parse("[{\"id\":\"/r\",\"name\":\"Root\",\"child_ids\":[\"/a\"],\"restrictions\":[\"abstract\"]},"
		   " {\"id\":\"/a\",\"name\":\"Toothbrush\",\"child_ids\":[\"/d\"],"
		   "  \"positive_examples\":[\"youtu.be/AAAAAAAAAAA?start=1&end=2\",\"youtu.be/AAAAAAAAAAA?start=1&end=2\"]},"
		   " {\"id\":\"/d\",\"name\":\"Electric toothbrush, sonic\",\"restrictions\":[\"blacklist\"]}]");
	assert_int_equal(aed_ontology_store(db, o2, NULL, "d2.json", &res), AED_OK);
	assert_int_equal(res.n_removed, 2);
	assert_int_equal(res.n_updated, 1);
	assert_int_equal(res.n_same, 2);
	assert_int_equal(aed_class_id_by_mid(db, "/d", &id), AED_OK);
	assert_int_equal(id, id_d);
	assert_int_equal(count(db, "SELECT count(*) FROM class_closure"), 6);
	assert_int_equal(count(db, "SELECT label_index FROM class WHERE mid = '/d'"), 1);

	/* dropping a labelled class is refused and rolls back */
	assert_int_equal(aed_db_exec(db, "INSERT INTO segment (key, ytid, start_ms, source_group, shard) "
				     "VALUES ('s_0', 's', 0, 's', 0); INSERT INTO label (segment_id, "
				     "class_id, source) SELECT 1, id, 'weak' FROM class WHERE mid = '/d'"),
			 AED_OK);
	o3 = parse("[{\"id\":\"/r\",\"name\":\"Root\"}]");
	assert_int_equal(aed_ontology_store(db, o3, NULL, "d3.json", &res), AED_ESTATE);
	aed_ontology_free(&o3);
	assert_non_null(strstr(aed_last_error(), "/d \"Electric toothbrush, sonic\" (1 labels)"));
	assert_int_equal(count(db, "SELECT count(*) FROM class"), 3);
	assert_int_equal(count(db, "SELECT count(*) FROM ontology_version"), 2);
	assert_int_equal(count(db, "SELECT count(*) FROM class_closure"), 6);

	/* labels naming a mid the ontology lacks: refused before any write */
	aed_class_labels_free(&l);
	csv = "index,mid,display_name\n0,/a,A\n1,/b,B\n";
	assert_int_equal(aed_class_labels_parse(csv, strlen(csv), "l.csv", &l), AED_OK);
	assert_int_equal(aed_ontology_store(db, o2, l, "d2.json", &res), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "line 3: /b"));
	assert_int_equal(count(db, "SELECT count(*) FROM class WHERE label_index IS NOT NULL"), 2);

	aed_class_labels_free(&l);
	aed_ontology_free(&o);
	aed_ontology_free(&o2);
	aed_db_free(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_youtube_examples),
		cmocka_unit_test(test_ontology_cases),
		cmocka_unit_test(test_ontology_structure),
		cmocka_unit_test(test_labels_cases),
		cmocka_unit_test_setup_teardown(test_store_and_resolve, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
