/* run.c - `aedcurate run FILE`: run a pipeline's steps in order through the
 * command table, recording each finished step so a rerun skips it. Steps that
 * are per-item stages resume by themselves, so a step cut short by a crash is
 * simply run again. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/net.h"
#include "aedcurate/pipeline.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"
#include "cmd/cluster.h"
#include "main.h"

/* How many pipelines deep `run` steps may nest, the one run from the command
 * line counting as the first: deep enough for a pipeline of pipelines of
 * pipelines, shallow enough that a runaway chain stops at once. */
#define RUN_MAX_DEPTH 8

/* One pipeline on the chain of `run` steps now running. Steps run in-process
 * through aed_dispatch, so the chain travels in each step's context
 * (aed_ctx.run_chain) and lives on the stack of the cmd_run calls. */
struct aed_run_link {
	const char *real;  /* realpath() of the file: how files are compared */
	const char *file;  /* as the command line or the step named it */
	int depth;         /* 1 for the pipeline run from the command line */
	const struct aed_run_link *parent;
};

struct run_opts {
	const char *from, *shard;
	int force, dry_run, offline, corpus, allow_failed, sole_writer;
	long probe_timeout;
};

static const struct aed_opt opts[] = {
	{ "from", 0, AED_OPT_STR, offsetof(struct run_opts, from), "STEP",
	  "start at this step, rerunning it and every later one" },
	{ "force", 0, AED_OPT_FLAG, offsetof(struct run_opts, force), NULL,
	  "rerun steps that already finished" },
	{ "dry-run", 'n', AED_OPT_FLAG, offsetof(struct run_opts, dry_run), NULL,
	  "print the expanded steps and whether each would run" },
	{ "offline", 0, AED_OPT_FLAG, offsetof(struct run_opts, offline), NULL,
	  "never probe URLs: use the first local alternative of each source" },
	{ "probe-timeout", 0, AED_OPT_LONG, offsetof(struct run_opts, probe_timeout), "S",
	  "seconds to wait for a source URL to answer", .def.i = 8 },
	{ "shard", 0, AED_OPT_STR, offsetof(struct run_opts, shard), "I/N",
	  "run the set-up and [shard] steps for shard I of N (pipeline.h)" },
	{ "corpus", 0, AED_OPT_FLAG, offsetof(struct run_opts, corpus), NULL,
	  "run the steps after the [shard] ones, on a database merged from shards" },
	{ "allow-failed", 0, AED_OPT_FLAG, offsetof(struct run_opts, allow_failed), NULL,
	  "with --shard: succeed even when items of the shard failed" },
	{ "sole-writer", 0, AED_OPT_FLAG, offsetof(struct run_opts, sole_writer), NULL,
	  "nothing else writes the database (a Slurm task's): runs it records as running "
	  "on other hosts are dead, their claimed items are done again" },
	{ 0 }
};

static const struct aed_cmd_spec spec = {
	.name = "run",
	.args = "FILE",
	.summary = "Run a pipeline file (see pipelines/): its steps in order, skipping finished ones.",
	.details = "A step is skipped when the same command line already finished for this\n"
		   "pipeline in this database. Per-item stages skip finished items by\n"
		   "themselves, so after a crash `run` again completes the work. A `source`\n"
		   "line takes the first alternative that answers (URL) or exists (path).\n"
		   "With --shard I/N, [shard] steps get --shard I/N, are run again while the\n"
		   "database holds items not done, and the run fails if items failed or are\n"
		   "still claimed by another run (a cluster's merge must not go on without\n"
		   "them). With --corpus, a step is run again\n"
		   "when a merge changed the database after it finished.",
	.opts = opts,
	.min_args = 1,
	.max_args = 1,
};

/* HEAD request: does this URL answer 2xx/3xx within the timeout? */
static int url_answers(const char *url, long timeout, char *why, size_t n)
{
	CURL *c = curl_easy_init();
	long code = 0;
	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode r = curl_easy_perform(c);
	if (r == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (r != CURLE_OK)
		snprintf(why, n, "%s: %s", url, curl_easy_strerror(r));
	else if (code >= 400)
		snprintf(why, n, "%s: HTTP %ld", url, code);
	curl_easy_cleanup(c);
	return r == CURLE_OK && code < 400;
}

static int choose_source(const char *const *alts, int n, char *why, void *arg)
{
	const struct run_opts *o = arg;
	for (int i = 0; i < n; i++) {
		char reason[400] = "";
		if (aed_source_is_url(alts[i]) && strncmp(alts[i], "file://", 7)) {
			if (o->offline)
				continue;
			if (url_answers(alts[i], o->probe_timeout, reason, sizeof reason))
				return i;
		} else {
			const char *p = strncmp(alts[i], "file://", 7) ? alts[i] : alts[i] + 7;
			struct stat st;
			if (stat(p, &st) == 0)
				return i;
			snprintf(reason, sizeof reason, "%s: no such file", p);
		}
		if (*reason)
			aed_info("source: %s; trying the next alternative", reason);
		snprintf(why + strlen(why), 512 - strlen(why), "%s%s", *why ? "; " : "", reason);
	}
	return -1;
}

/* Did this step finish before with the same command line? */
static int step_finished(struct aed_db *db, const char *pipeline,
			 const struct aed_pipeline_step *s, char *when)
{
	sqlite3_stmt *st;
	int done = 0;
	if (aed_db_prepare(db, "SELECT finished_at FROM pipeline_step WHERE pipeline = ? AND "
			       "step = ? AND command = ?", &st))
		return 0;
	sqlite3_bind_text(st, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->text, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		done = 1;
		snprintf(when, 32, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return done;
}

static int record_step(struct aed_db *db, const char *pipeline,
		       const struct aed_pipeline_step *s, int64_t run_id)
{
	char now[32];
	sqlite3_stmt *st;
	aed_utc_iso8601(now);
	int rc = aed_db_prepare(db, "INSERT OR REPLACE INTO pipeline_step(pipeline, step, command, "
				    "run_id, finished_at) VALUES(?, ?, ?, ?, ?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, run_id);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "recording the pipeline step");
	sqlite3_finalize(st);
	return rc;
}

/* Is step i skipped as finished? Under --shard, a [shard] step is not while
 * the database holds items not done (its stage retries failed ones and does
 * those a killed run left); under --corpus,
 * not when a merge changed the database after it finished. */
static int skip_step(struct aed_db *db, const struct run_opts *o, const char *pipeline,
		     const struct aed_pipeline_step *s, int64_t undone, char *when)
{
	if (o->force || o->from || !step_finished(db, pipeline, s, when))
		return 0;
	if (o->shard && s->shard && undone > 0)
		return 0;
	if (o->corpus && run_merged_since(db, when))
		return 0;
	return 1;
}

/* "a.pipeline -> b.pipeline -> FILE": the chain, outermost first. */
static void chain_text(const struct aed_run_link *l, const char *file, char *buf, size_t n)
{
	const char *names[RUN_MAX_DEPTH + 1];
	int k = 0;
	for (; l && k < RUN_MAX_DEPTH; l = l->parent)
		names[k++] = l->file;
	buf[0] = 0;
	while (k-- > 0)
		snprintf(buf + strlen(buf), n - strlen(buf), "%s -> ", names[k]);
	snprintf(buf + strlen(buf), n - strlen(buf), "%s", file);
}

/* Refuse a pipeline already on the chain (it would run itself without end)
 * and a chain deeper than RUN_MAX_DEPTH. The parent's step prefixes the
 * message with its file, line and name. */
static int check_chain(const struct aed_run_link *up, const char *file, const char *real)
{
	char chain[2048];
	for (const struct aed_run_link *l = up; l; l = l->parent)
		if (!strcmp(l->real, real)) {
			chain_text(up, file, chain, sizeof chain);
			return aed_error(AED_EFORMAT, "run: %s is already running (%s): a pipeline "
					 "may not run itself, directly or through others", file, chain);
		}
	if (up && up->depth >= RUN_MAX_DEPTH) {
		chain_text(up, file, chain, sizeof chain);
		return aed_error(AED_EFORMAT, "run: %s: pipelines nested more than %d deep (%s)", file,
				 RUN_MAX_DEPTH, chain);
	}
	return AED_OK;
}

/* Which steps [*from, *last) this invocation runs: all, the set-up and
 * shard steps (--shard), the corpus steps (--corpus), from --from on. */
static int step_range(struct aed_pipeline *p, const struct run_opts *o,
		      const struct aed_shard *shard, const char *file, int *from, int *last)
{
	int rc;

	*from = 0;
	*last = p->n_steps;
	if (o->shard || o->corpus) {
		int first, end;
		if ((rc = aed_pipeline_shard_block(p, file, &first, &end)))
			return rc;
		if (o->shard) {
			if ((rc = aed_pipeline_set_shard(p, shard->index, shard->count)))
				return rc;
			*last = end;
		} else {
			*from = end;
		}
	}
	if (o->from) {
		int f = -1;
		for (int i = 0; i < p->n_steps; i++)
			if (!strcmp(p->steps[i].name, o->from))
				f = i;
		if (f < 0) {
			rc = aed_error(AED_EUSAGE, "run: --from %s: %s has no such step", o->from, file);
			return rc;
		}
		if (f < *from || f >= *last) {
			rc = aed_error(AED_EUSAGE, "run: --from %s: not a step %s runs", o->from,
				       o->shard ? "--shard" : "--corpus");
			return rc;
		}
		*from = f;
	}
	return AED_OK;
}

int cmd_run(struct aed_ctx *ctx, int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct aed_pipeline *p = NULL;
	char *text = NULL, *real = NULL;
	size_t len;
	int64_t run_id = 0;
	int rc = aed_parse(ctx, &spec, argc, argv, &o, NULL), from = 0, n_run = 0, n_skip = 0;
	int last = 0;  /* steps [from, last) run */
	int64_t failed = 0, undone = 0;
	struct aed_shard shard = { 0 };
	if (rc)
		return rc;
	const char *file = argv[0];
	if ((rc = aed_read_file(file, 1 << 20, &text, &len)))
		return rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!(real = realpath(file, NULL))) {
		rc = aed_error(AED_EIO, "run: %s: %s", file, strerror(errno));
		goto out;
	}
	if ((rc = check_chain(ctx->run_chain, file, real)))
		goto out;
	struct aed_run_link link = { real, file, ctx->run_chain ? ctx->run_chain->depth + 1 : 1,
				     ctx->run_chain };
	if (o.shard && o.corpus) {
		rc = aed_error(AED_EUSAGE, "run: --shard and --corpus run different steps: give one");
		goto out;
	}
	if (o.shard && (rc = aed_shard_parse(o.shard, &shard)))
		goto out;
	if ((rc = aed_pipeline_parse(text, len, file, choose_source, &o, &p)) ||
	    (rc = step_range(p, &o, &shard, file, &from, &last)))
		goto out;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_CREATE)))
		goto out;
	if (o.sole_writer && !o.dry_run && (rc = aed_run_reap_all_hosts(ctx->db)))
		goto out;
	if (o.shard && (rc = run_unfinished_items(ctx->db, &undone)))
		goto out;
	if (o.dry_run) {
		for (int i = 0; i < p->n_steps; i++) {
			char when[32];
			int skip = skip_step(ctx->db, &o, p->name, &p->steps[i], undone, when);
			printf("%-3s %-14s aedcurate %s\n",
			       i < from || i >= last ? "-" : skip ? "ok" : "run",
			       p->steps[i].name, p->steps[i].text);
		}
		goto out;
	}
	if ((rc = aed_run_begin(ctx->db, "pipeline",
				json_pack("{s:o, s:o}", "file", aed_json_text(file), "pipeline",
					  aed_json_text(p->name)), &run_id)))
		goto out;
	for (int i = from; i < last; i++) {
		struct aed_pipeline_step *s = &p->steps[i];
		char when[32];
		if (skip_step(ctx->db, &o, p->name, s, undone, when)) {
			aed_info("[%s] skipped: finished %s", s->name, when);
			n_skip++;
			continue;
		}
		aed_info("[%s] aedcurate %s", s->name, s->text);
		double t0 = aed_now();
		/* Each step gets its own context on the same database and flags;
		 * its argv is a copy because commands compact it in place. */
		struct aed_ctx sub = { .g = ctx->g, .run_chain = &link };
		sub.g.json = 0;
		char **args = calloc((size_t)s->argc + 1, sizeof *args);
		if (!args) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			break;
		}
		memcpy(args, s->argv, (size_t)s->argc * sizeof *args);
		rc = aed_dispatch(&sub, s->argc, args);
		free(args);
		aed_db_free(&sub.db);
		if (rc) {
			aed_error_prefix(rc, "%s:%d: step '%s' failed", file, s->line, s->name);
			break;
		}
		if ((rc = record_step(ctx->db, p->name, s, run_id)))
			break;
		aed_info("[%s] done in %.1f s", s->name, aed_now() - t0);
		n_run++;
	}
	/* A shard with failed items is not done: its merge must wait for them. */
	if (!rc && o.shard && (rc = run_failed_items(ctx->db, &failed)) == AED_OK && failed > 0)
		rc = run_report_failed(ctx->db, o.shard, failed, o.allow_failed);
	if (!rc && o.shard)
		rc = run_check_claimed(ctx->db, o.shard);
	if (rc)
		aed_run_fail(ctx->db, run_id, rc, n_run, 1);
	else
		aed_run_end(ctx->db, run_id, AED_RUN_OK, n_run, 0, NULL);
	if (!rc) {
		if (ctx->g.json) {
			json_t *j = json_pack("{s:s, s:i, s:i}", "pipeline", p->name, "steps_run",
					      n_run, "steps_skipped", n_skip);
			char *t = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;
			if (t)
				printf("%s\n", t);
			free(t);
			json_decref(j);
		} else
			aed_info("pipeline %s: %d steps run, %d skipped", p->name, n_run, n_skip);
	}
out:
	aed_pipeline_free(&p);
	free(real);
	free(text);
	return rc;
}
