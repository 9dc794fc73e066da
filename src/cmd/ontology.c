/* ontology.c - `aedcurate ontology ingest|show|tree|search`: argv to options,
 * then the ontology stage (src/stage/ontology.c) or a read-only query, and
 * the human or --json rendering of the result. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/class.h"
#include "aedcurate/ontology.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

#define TREE_MAX_LINES 1000000 /* a DAG expanded as a tree can explode */

/* Text from the ontology file is printed as-is except control bytes, which
 * are shown as \xNN so a hostile name cannot drive the terminal. */
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

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

static int print_json(json_t *j)
{
	if (!j)
		return aed_error(AED_ENOMEM, "out of memory building JSON");
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		return aed_error(AED_EIO, "writing JSON to stdout failed");
	fputc('\n', stdout);
	return AED_OK;
}

/* --- ingest --------------------------------------------------------------- */

#define O(f) offsetof(struct aed_ontology_ingest_opts, f)
static const struct aed_opt ingest_table[] = {
	{ "labels", 'l', AED_OPT_STR, O(labels), "CSV",
	  "class_labels_indices.csv (index,mid,display_name): sets each class's label index" },
	{ "timeout", 0, AED_OPT_LONG, O(timeout_s), "S",
	  "give up on a download after S seconds", AED_OPT_AT_LEAST(0),
	  .def_note = "120 s, 15 s to connect, 30 s without data" },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec ingest_spec = {
	.name = "ontology ingest",
	.args = "[SOURCE]",
	.summary = "Load the AudioSet ontology (ontology.json) into the database.",
	.details = "SOURCE is a path, a file:// URL or an http(s):// URL; without it the official\n"
		   "file is fetched from " AED_ONTOLOGY_URL ".\n"
		   "Everything in the file is kept: ids, names, descriptions, citations, the\n"
		   "abstract/blacklist restrictions, the child_ids DAG and the positive examples.\n"
		   "Duplicate ids, dangling child ids and cycles are refused and the database is\n"
		   "left as it was. Ingesting the same bytes again writes nothing; a newer file\n"
		   "updates classes in place by mid (ids stay stable), and is refused if a class\n"
		   "it drops is still labelled.",
	.opts = ingest_table,
	.min_args = 0,
	.max_args = 1,
};

int cmd_ontology_ingest(struct aed_ctx *ctx, int argc, char **argv)
{
	struct aed_ontology_ingest_opts io;
	struct aed_ontology_ingest_result r;
	int nargs = 0, rc;

	aed_ontology_ingest_opts_init(&io);
	if ((rc = aed_parse(ctx, &ingest_spec, argc, argv, &io, &nargs)))
		return rc;
	io.source = nargs ? argv[0] : NULL;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_CREATE)) ||
	    (rc = aed_ontology_ingest(ctx->db, &io, &r)))
		return rc;
	if (r.n_unknown_keys)
		aed_warn("%s: %zu object key%s the format does not define were ignored "
			 "(first: \"%s\")", io.source ? io.source : AED_ONTOLOGY_URL,
			 r.n_unknown_keys, r.n_unknown_keys > 1 ? "s" : "", r.first_unknown_key);
	if (ctx->g.json) {
		json_t *j = json_pack("{s:s, s:b, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
				      "s:I, s:I, s:I, s:I, s:I, s:b, s:I}",
				      "source", io.source ? io.source : AED_ONTOLOGY_URL,
				      "unchanged", r.unchanged,
				      "version_id", (json_int_t)r.version_id,
				      "sha256", r.sha256,
				      "classes", (json_int_t)r.n_classes,
				      "abstract", (json_int_t)r.n_abstract,
				      "blacklist", (json_int_t)r.n_blacklist,
				      "edges", (json_int_t)r.n_edges,
				      "examples", (json_int_t)r.n_examples,
				      "closure", (json_int_t)r.n_closure,
				      "added", (json_int_t)r.n_added,
				      "updated", (json_int_t)r.n_updated,
				      "removed", (json_int_t)r.n_removed,
				      "same", (json_int_t)r.n_same,
				      "label_indexes", (json_int_t)r.n_labels,
				      "labels_changed", r.labels_changed,
				      "run_id", (json_int_t)r.run_id);
		rc = print_json(j);
		json_decref(j);
		return rc;
	}
	printf("ontology: %zu classes (%zu abstract, %zu blacklist), %zu edges, "
	       "%zu examples, %zu closure rows\n", r.n_classes, r.n_abstract, r.n_blacklist,
	       r.n_edges, r.n_examples, r.n_closure);
	if (r.unchanged && !r.labels_changed)
		printf("unchanged: same sha256 as version %lld; nothing written\n",
		       (long long)r.version_id);
	else if (r.unchanged)
		printf("ontology unchanged (version %lld); label indexes set from %zu rows\n",
		       (long long)r.version_id, r.n_labels);
	else
		printf("version %lld: %zu added, %zu updated, %zu removed, %zu unchanged%s\n",
		       (long long)r.version_id, r.n_added, r.n_updated, r.n_removed, r.n_same,
		       r.labels_changed ? "; label indexes set" : "");
	return AED_OK;
}

/* --- show ----------------------------------------------------------------- */

static const struct aed_cmd_spec show_spec = {
	.name = "ontology show",
	.args = "NAME|MID",
	.summary = "Show one class: mid, name, restrictions, parents, children, examples.",
	.details = "A mid or a name, any case: the mid first, then the whole name, else the\n"
		   "only name containing the text. An ambiguous name lists the candidates.\n"
		   "Every command taking a class resolves it this way.",
	.min_args = 1,
	.max_args = 1,
};

/* Related classes as a JSON array of {mid, name}. */
static int related(struct aed_db *db, const char *sql, int64_t id, json_t *arr)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((rc = aed_db_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "mid", col(st, 0),
						     "name", col(st, 1)));
	if (r != SQLITE_DONE)
		rc = aed_db_error(db, "reading related classes");
	sqlite3_finalize(st);
	return rc;
}

static void print_related(const char *label, json_t *arr)
{
	size_t i;
	json_t *e;

	printf("%s: %zu\n", label, json_array_size(arr));
	json_array_foreach(arr, i, e) {
		printf("  %-12s ", json_string_value(json_object_get(e, "mid")));
		put_text(stdout, json_string_value(json_object_get(e, "name")));
		putchar('\n');
	}
}

int cmd_ontology_show(struct aed_ctx *ctx, int argc, char **argv)
{
	sqlite3_stmt *st = NULL;
	json_t *j = NULL, *parents = json_array(), *children = json_array(),
	       *examples = json_array(), *restr = json_array();
	int64_t id, n_desc = 0;
	int nargs, rc, r;

	if ((rc = aed_parse(ctx, &show_spec, argc, argv, NULL, &nargs)) ||
	    (rc = aed_ctx_open_db(ctx, AED_DB_READONLY)) ||
	    (rc = aed_class_resolve(ctx->db, argv[0], &id)))
		goto out;
	if ((rc = related(ctx->db, "SELECT c.mid, c.name FROM class_edge e JOIN class c "
			  "ON c.id = e.parent_id WHERE e.child_id = ?1 ORDER BY c.id",
			  id, parents)) ||
	    (rc = related(ctx->db, "SELECT c.mid, c.name FROM class_edge e JOIN class c "
			  "ON c.id = e.child_id WHERE e.parent_id = ?1 ORDER BY e.ord",
			  id, children)))
		goto out;
	if ((rc = aed_db_prepare(ctx->db, "SELECT ytid, start_ms, end_ms FROM class_example "
				 "WHERE class_id = ?1 ORDER BY ytid, start_ms", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(examples, json_pack("{s:s, s:I, s:I}", "ytid", col(st, 0),
							  "start_ms", (json_int_t)sqlite3_column_int64(st, 1),
							  "end_ms", (json_int_t)sqlite3_column_int64(st, 2)));
	sqlite3_finalize(st);
	st = NULL;
	if (r != SQLITE_DONE) {
		rc = aed_db_error(ctx->db, "reading examples");
		goto out;
	}
	if ((rc = aed_db_prepare(ctx->db, "SELECT count(*) - 1 FROM class_closure "
				 "WHERE ancestor_id = ?1", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n_desc = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if ((rc = aed_db_prepare(ctx->db, "SELECT mid, name, description, citation_uri, "
				 "is_abstract, is_blacklist, label_index FROM class "
				 "WHERE id = ?1", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = aed_db_error(ctx->db, "reading a class");
		goto out;
	}
	if (sqlite3_column_int(st, 4))
		json_array_append_new(restr, json_string("abstract"));
	if (sqlite3_column_int(st, 5))
		json_array_append_new(restr, json_string("blacklist"));
	j = json_pack("{s:s, s:s, s:s, s:s, s:O, s:o, s:O, s:O, s:I, s:I, s:O}",
		      "mid", col(st, 0), "name", col(st, 1), "description", col(st, 2),
		      "citation_uri", col(st, 3), "restrictions", restr,
		      "label_index", sqlite3_column_type(st, 6) == SQLITE_NULL ? json_null()
		      : json_integer(sqlite3_column_int64(st, 6)),
		      "parents", parents, "children", children,
		      "n_examples", (json_int_t)json_array_size(examples),
		      "n_descendants", (json_int_t)n_desc, "examples", examples);
	if (!j) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (ctx->g.json) {
		rc = print_json(j);
		goto out;
	}
	printf("mid: %s\nname: ", col(st, 0));
	put_text(stdout, col(st, 1));
	printf("\nrestrictions: %s%s%s\n", sqlite3_column_int(st, 4) ? "abstract" : "",
	       sqlite3_column_int(st, 4) && sqlite3_column_int(st, 5) ? ", " : "",
	       sqlite3_column_int(st, 5) ? "blacklist"
	       : sqlite3_column_int(st, 4) ? "" : "none");
	if (sqlite3_column_type(st, 6) != SQLITE_NULL)
		printf("label index: %lld\n", (long long)sqlite3_column_int64(st, 6));
	printf("description: ");
	put_text(stdout, col(st, 2));
	printf("\ncitation: ");
	put_text(stdout, col(st, 3));
	putchar('\n');
	print_related("parents", parents);
	print_related("children", children);
	printf("descendants: %lld\nexamples: %zu\n", (long long)n_desc,
	       json_array_size(examples));
out:
	sqlite3_finalize(st);
	json_decref(j);
	json_decref(parents);
	json_decref(children);
	json_decref(examples);
	json_decref(restr);
	return rc;
}

/* --- tree ----------------------------------------------------------------- */

struct tree_opts {
	long depth;  /* -1: all */
};

static const struct aed_opt tree_table[] = {
	{ "depth", 'd', AED_OPT_LONG, offsetof(struct tree_opts, depth), "N",
	  "show N levels below the root", .def.i = -1, AED_OPT_AT_LEAST(-1), .def_note = "all" },
	{ 0 }
};

static const struct aed_cmd_spec tree_spec = {
	.name = "ontology tree",
	.args = "[ROOT]",
	.summary = "Print the class hierarchy, indented, from ROOT or from every top class.",
	.details = "ROOT: a class, name or mid, any case (as `ontology show`). A class with\n"
		   "several parents appears under each of them.",
	.opts = tree_table,
	.min_args = 0,
	.max_args = 1,
};

/* The graph in memory: classes by id, children in CSR form. */
struct graph {
	int64_t *id;
	char **mid, **name;
	int *flags;          /* 1 abstract, 2 blacklist */
	size_t n;
	size_t *first;       /* children of i: child[first[i] .. first[i+1]) */
	size_t *child;
	size_t *n_parents;
	size_t lines;
};

static void graph_release(struct graph *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		free(g->mid[i]);
		free(g->name[i]);
	}
	free(g->id);
	free(g->mid);
	free(g->name);
	free(g->flags);
	free(g->first);
	free(g->child);
	free(g->n_parents);
}

static long graph_find(const struct graph *g, int64_t id)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;

		if (g->id[m] == id)
			return (long)m;
		if (g->id[m] < id)
			lo = m + 1;
		else
			hi = m;
	}
	return -1;
}

static int graph_load(struct aed_db *db, struct graph *g)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0, ne = 0;
	size_t i = 0, k = 0;
	int rc, r;

	memset(g, 0, sizeof *g);
	if ((rc = aed_db_int(db, "SELECT count(*) FROM class", &n)) ||
	    (rc = aed_db_int(db, "SELECT count(*) FROM class_edge", &ne)))
		return rc;
	if (n == 0)
		return aed_error(AED_ESTATE, "no ontology in %s: run `aedcurate ontology "
				 "ingest` first", aed_db_path(db));
	g->id = calloc((size_t)n, sizeof *g->id);
	g->mid = calloc((size_t)n, sizeof *g->mid);
	g->name = calloc((size_t)n, sizeof *g->name);
	g->flags = calloc((size_t)n, sizeof *g->flags);
	g->first = calloc((size_t)n + 1, sizeof *g->first);
	g->child = calloc((size_t)ne + 1, sizeof *g->child);
	g->n_parents = calloc((size_t)n, sizeof *g->n_parents);
	if (!g->id || !g->mid || !g->name || !g->flags || !g->first || !g->child ||
	    !g->n_parents)
		return aed_error(AED_ENOMEM, "out of memory");
	if ((rc = aed_db_prepare(db, "SELECT id, mid, name, is_abstract, is_blacklist "
				 "FROM class ORDER BY id", &st)))
		return rc;
	while (i < (size_t)n && (r = sqlite3_step(st)) == SQLITE_ROW) {
		g->id[i] = sqlite3_column_int64(st, 0);
		g->mid[i] = strdup(col(st, 1));
		g->name[i] = strdup(col(st, 2));
		g->flags[i] = (sqlite3_column_int(st, 3) ? 1 : 0) | (sqlite3_column_int(st, 4) ? 2 : 0);
		g->n = ++i;
		if (!g->mid[i - 1] || !g->name[i - 1]) {
			sqlite3_finalize(st);
			return aed_error(AED_ENOMEM, "out of memory");
		}
	}
	sqlite3_finalize(st);
	if ((rc = aed_db_prepare(db, "SELECT parent_id, child_id FROM class_edge "
				 "ORDER BY parent_id, ord", &st)))
		return rc;
	while (k < (size_t)ne && (r = sqlite3_step(st)) == SQLITE_ROW) {
		long p = graph_find(g, sqlite3_column_int64(st, 0));
		long c = graph_find(g, sqlite3_column_int64(st, 1));

		if (p < 0 || c < 0)
			continue;
		g->first[p + 1]++;
		g->child[k++] = (size_t)c;
		g->n_parents[c]++;
	}
	sqlite3_finalize(st);
	/* edges came sorted by parent: prefix sums give each parent's range */
	for (i = 0; i < g->n; i++)
		g->first[i + 1] += g->first[i];
	return AED_OK;
}

static int tree_text(struct graph *g, size_t i, int level, long max_depth)
{
	size_t k, nc = g->first[i + 1] - g->first[i];
	int rc;

	if (++g->lines > TREE_MAX_LINES)
		return aed_error(AED_ENOMEM, "the tree has more than %d lines; use --depth "
				 "or a ROOT", TREE_MAX_LINES);
	printf("%*s", 2 * level, "");
	put_text(stdout, g->name[i]);
	printf(" (%s)%s%s", g->mid[i], g->flags[i] & 1 ? " [abstract]" : "",
	       g->flags[i] & 2 ? " [blacklist]" : "");
	if (max_depth >= 0 && level >= max_depth && nc)
		printf(" [+%zu]", nc);
	putchar('\n');
	if (max_depth >= 0 && level >= max_depth)
		return AED_OK;
	for (k = g->first[i]; k < g->first[i + 1]; k++)
		if ((rc = tree_text(g, g->child[k], level + 1, max_depth)))
			return rc;
	return AED_OK;
}

static int tree_json(struct graph *g, size_t i, int level, long max_depth, json_t **out)
{
	json_t *node, *kids, *sub;
	size_t k;
	int rc;

	if (++g->lines > TREE_MAX_LINES)
		return aed_error(AED_ENOMEM, "the tree has more than %d nodes; use --depth "
				 "or a ROOT", TREE_MAX_LINES);
	node = json_pack("{s:s, s:s, s:b, s:b}", "mid", g->mid[i], "name", g->name[i],
			 "abstract", g->flags[i] & 1, "blacklist", (g->flags[i] & 2) != 0);
	if (!node)
		return aed_error(AED_ENOMEM, "out of memory");
	*out = node;
	if (max_depth >= 0 && level >= max_depth) {
		json_object_set_new(node, "n_children",
				    json_integer((json_int_t)(g->first[i + 1] - g->first[i])));
		return AED_OK;
	}
	kids = json_array();
	json_object_set_new(node, "children", kids);
	for (k = g->first[i]; k < g->first[i + 1]; k++) {
		sub = NULL;
		rc = tree_json(g, g->child[k], level + 1, max_depth, &sub);
		if (sub)
			json_array_append_new(kids, sub);
		if (rc)
			return rc;
	}
	return AED_OK;
}

int cmd_ontology_tree(struct aed_ctx *ctx, int argc, char **argv)
{
	struct tree_opts o = { 0 };
	struct graph g = { 0 };
	json_t *arr = NULL, *node;
	int64_t root_id = 0;
	long root = -1;
	size_t i;
	int nargs = 0, rc;

	if ((rc = aed_parse(ctx, &tree_spec, argc, argv, &o, &nargs)) ||
	    (rc = aed_ctx_open_db(ctx, AED_DB_READONLY)))
		goto out;
	if (nargs && (rc = aed_class_resolve(ctx->db, argv[0], &root_id)))
		goto out;
	if ((rc = graph_load(ctx->db, &g)))
		goto out;
	if (nargs && (root = graph_find(&g, root_id)) < 0) {
		rc = aed_error(AED_EINTERNAL, "class %lld vanished", (long long)root_id);
		goto out;
	}
	if (ctx->g.json)
		arr = json_array();
	for (i = 0; i < g.n; i++) {
		if (root >= 0 ? (long)i != root : g.n_parents[i] != 0)
			continue;
		if (arr) {
			node = NULL;
			rc = tree_json(&g, i, 0, o.depth, &node);
			if (node)
				json_array_append_new(arr, node);
		} else {
			rc = tree_text(&g, i, 0, o.depth);
		}
		if (rc)
			goto out;
	}
	if (arr)
		rc = print_json(arr);
out:
	json_decref(arr);
	graph_release(&g);
	return rc;
}

/* --- search --------------------------------------------------------------- */

static const struct aed_cmd_spec search_spec = {
	.name = "ontology search",
	.args = "TEXT...",
	.summary = "List the classes whose name or description contains TEXT.",
	.details = "Case-insensitive; several words are searched as one phrase. Name matches\n"
		   "come first.",
	.min_args = 1,
	.max_args = -1,
};

int cmd_ontology_search(struct aed_ctx *ctx, int argc, char **argv)
{
	sqlite3_stmt *st = NULL;
	struct aed_buf text = { 0 };
	json_t *arr = json_array();
	int nargs = 0, rc, r, i;
	int64_t n_classes = 0;

	if ((rc = aed_parse(ctx, &search_spec, argc, argv, NULL, &nargs)))
		goto out;
	for (i = 0; i < nargs; i++)
		if ((rc = aed_buf_printf(&text, "%s%s", i ? " " : "", argv[i])))
			goto out;
	if (!text.data || !*text.data) {
		rc = aed_error(AED_EUSAGE, "ontology search: empty TEXT");
		goto out;
	}
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)) ||
	    (rc = aed_db_int(ctx->db, "SELECT count(*) FROM class", &n_classes)))
		goto out;
	if (n_classes == 0) {
		rc = aed_error(AED_ESTATE, "no ontology in %s: run `aedcurate ontology ingest` "
			       "first", aed_db_path(ctx->db));
		goto out;
	}
	if ((rc = aed_db_prepare(ctx->db,
				 "SELECT mid, name, instr(lower(name), lower(?1)) > 0 AS in_name "
				 "FROM class WHERE instr(lower(name), lower(?1)) > 0 "
				 "OR instr(lower(description), lower(?1)) > 0 "
				 "ORDER BY in_name DESC, name COLLATE NOCASE, id", &st)))
		goto out;
	sqlite3_bind_text(st, 1, text.data, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "mid", col(st, 0),
						     "name", col(st, 1), "matched",
						     sqlite3_column_int(st, 2) ? "name"
									       : "description"));
	if (r != SQLITE_DONE) {
		rc = aed_db_error(ctx->db, "searching classes");
		goto out;
	}
	if (ctx->g.json) {
		rc = print_json(arr);
		goto out;
	}
	if (json_array_size(arr) == 0) {
		rc = aed_error(AED_ENOTFOUND, "no class name or description contains \"%s\"",
			       text.data);
		goto out;
	}
	{
		size_t k;
		json_t *e;

		json_array_foreach(arr, k, e) {
			printf("%-12s ", json_string_value(json_object_get(e, "mid")));
			put_text(stdout, json_string_value(json_object_get(e, "name")));
			putchar('\n');
		}
	}
out:
	sqlite3_finalize(st);
	json_decref(arr);
	aed_buf_release(&text);
	return rc;
}
