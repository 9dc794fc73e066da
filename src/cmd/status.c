/* status.c - `aedcurate status`: what the store holds, per-stage work counts
 * and the most recent runs. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/cluster.h"
#include "cmd/commands.h"

struct status_opts {
	long runs;
};

static const struct aed_opt opts[] = {
	{ "runs", 'n', AED_OPT_LONG, offsetof(struct status_opts, runs), "N",
	  "how many recent runs to list", .def.i = 10 },
	{ 0 }
};

static const struct aed_cmd_spec spec = {
	.name = "status",
	.args = "[WORKDIR]",
	.summary = "Show what the database holds, per-stage item counts and recent runs.",
	.details = "With WORKDIR (a work dir of `aedcurate submit`): each shard's state, its\n"
		   "failed items and Slurm job, and the merged corpus's.",
	.opts = opts,
	.max_args = 1,
};

static const char *const totals_sql[][2] = {
	{ "classes", "SELECT count(*) FROM class" },
	{ "segments", "SELECT count(*) FROM segment" },
	{ "labels", "SELECT count(*) FROM label" },
	{ "strong_labels", "SELECT count(*) FROM strong_label" },
	{ "media_ok", "SELECT count(*) FROM media WHERE status = 'ok'" },
	{ "media_unavailable", "SELECT count(*) FROM media WHERE status = 'unavailable'" },
	{ "media_failed", "SELECT count(*) FROM media WHERE status = 'failed'" },
	{ "clips", "SELECT count(*) FROM clip" },
};

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

/* A killed run stays 'running' until something reaps it: status does, as
 * every stage does before it starts, when it can write the database (briefly:
 * a writer holding the lock only delays that to a later command). Otherwise
 * the runs listed below are judged without writing. */
static void reap(const char *path)
{
	struct aed_db *rw = NULL;

	if (!aed_db_path_writable(path))
		return;
	if (aed_db_open(path, 0, &rw) == AED_OK) {
		sqlite3_busy_timeout(aed_db_sqlite(rw), 2000);
		if (aed_run_reap(rw) != AED_OK)
			aed_warn("dead runs not reaped: %s", aed_last_error());
	}
	aed_db_free(&rw);
}

/* The text form of status's JSON. */
static void print_status(json_t *root)
{
	json_t *runs = json_object_get(root, "recent_runs");
	printf("database  %s (schema %d)\n", json_string_value(json_object_get(root, "db")),
	       (int)json_integer_value(json_object_get(root, "schema_version")));
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(root, "totals"), k, v)
		printf("%-18s %lld\n", k, (long long)json_integer_value(v));
	json_object_foreach(json_object_get(root, "splits"), k, v)
		printf("split %-12s %lld segments\n", k, (long long)json_integer_value(v));
	if (json_object_size(json_object_get(root, "stages"))) {
		printf("\n%-20s %10s %10s %10s %10s\n", "stage", "done", "failed", "pending", "claimed");
		json_object_foreach(json_object_get(root, "stages"), k, v)
			printf("%-20s %10lld %10lld %10lld %10lld\n", k,
			       (long long)json_integer_value(json_object_get(v, "done")),
			       (long long)json_integer_value(json_object_get(v, "failed")),
			       (long long)json_integer_value(json_object_get(v, "pending")),
			       (long long)json_integer_value(json_object_get(v, "claimed")));
	}
	size_t i;
	json_t *r;
	if (json_array_size(runs))
		printf("\n%-5s %-20s %-12s %-20s %8s %8s\n", "run", "stage", "outcome", "started",
		       "done", "failed");
	json_array_foreach(runs, i, r)
		printf("%-5lld %-20s %-12s %-20s %8lld %8lld%s%s\n",
		       (long long)json_integer_value(json_object_get(r, "id")),
		       json_string_value(json_object_get(r, "stage")),
		       !strcmp(json_string_value(json_object_get(r, "outcome")), "dead")
			       ? "dead (not yet reaped)" : json_string_value(json_object_get(r, "outcome")),
		       json_string_value(json_object_get(r, "started_at")),
		       (long long)json_integer_value(json_object_get(r, "done")),
		       (long long)json_integer_value(json_object_get(r, "failed")),
		       *json_string_value(json_object_get(r, "message")) ? "  " : "",
		       json_string_value(json_object_get(r, "message")));
}

int cmd_status(struct aed_ctx *ctx, int argc, char **argv)
{
	struct status_opts o = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *root = NULL, *j;
	int nargs, rc = aed_parse(ctx, &spec, argc, argv, &o, &nargs);
	if (rc)
		return rc;
	if (nargs == 1)
		return cmd_status_workdir(ctx, argv[0]);
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)))
		return rc;
	reap(aed_db_path(ctx->db));
	root = json_object();
	json_object_set_new(root, "db", aed_json_text(aed_db_path(ctx->db)));
	json_object_set_new(root, "schema_version", json_integer(aed_db_schema_version()));

	j = json_object();
	for (size_t i = 0; i < sizeof totals_sql / sizeof *totals_sql; i++) {
		int64_t v;
		if ((rc = aed_db_int(ctx->db, totals_sql[i][1], &v)))
			goto out;
		json_object_set_new(j, totals_sql[i][0], json_integer(v));
	}
	json_object_set_new(root, "totals", j);

	j = json_object();
	if ((rc = aed_db_prepare(ctx->db, "SELECT sp.name, count(*) FROM segment_split ss "
					  "JOIN split sp ON sp.id = ss.split_id GROUP BY sp.name "
					  "ORDER BY sp.name", &st)))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(j, col_text(st, 0), json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	json_object_set_new(root, "splits", j);

	j = json_object();
	if ((rc = aed_db_prepare(ctx->db, "SELECT stage, state, count(*) FROM work "
					  "GROUP BY stage, state ORDER BY stage", &st)))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *stage = col_text(st, 0);
		json_t *s = json_object_get(j, stage);
		if (!s) {
			s = json_pack("{s:i,s:i,s:i,s:i}", "pending", 0, "claimed", 0, "done", 0,
				      "failed", 0);
			json_object_set_new(j, stage, s);
		}
		json_object_set_new(s, col_text(st, 1), json_integer(sqlite3_column_int64(st, 2)));
	}
	sqlite3_finalize(st);
	json_object_set_new(root, "stages", j);

	j = json_array();
	if ((rc = aed_db_prepare(ctx->db, "SELECT id, stage, outcome, started_at, "
					  "coalesce(ended_at, ''), n_done, n_failed, "
					  "coalesce(message, ''), host, pid, pid_start FROM run "
					  "ORDER BY id DESC LIMIT ?", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, o.runs);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *outcome = col_text(st, 2);

		/* not reaped above (read-only): its process is gone all the same */
		if (!strcmp(outcome, "running") &&
		    aed_run_alive(col_text(st, 8), sqlite3_column_int64(st, 9),
				  sqlite3_column_int64(st, 10)) == 0)
			outcome = "dead";
		json_array_append_new(j, json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:o}",
			"id", (json_int_t)sqlite3_column_int64(st, 0), "stage", col_text(st, 1),
			"outcome", outcome, "started_at", col_text(st, 3),
			"ended_at", col_text(st, 4), "done", (json_int_t)sqlite3_column_int64(st, 5),
			"failed", (json_int_t)sqlite3_column_int64(st, 6),
			"message", aed_json_text(col_text(st, 7))));
	}
	sqlite3_finalize(st);
	st = NULL;
	json_object_set_new(root, "recent_runs", j);

	if (ctx->g.json) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		goto out;
	}
	print_status(root);
out:
	if (st)
		sqlite3_finalize(st);
	json_decref(root);
	return rc;
}
