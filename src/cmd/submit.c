/* submit.c - `aedcurate submit FILE --shards N`: argv to options, then the
 * submit stage (src/stage/submit.c); and `aedcurate status WORKDIR`, the
 * report of a work dir. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/submit.h"
#include "aedcurate/util.h"
#include "cmd/cluster.h"
#include "cmd/commands.h"

struct submit_cli {
	int shards;
	const char *partition, *time, *mem, *cpus, *workdir, *bin;
	int dry_run, local, offline, allow_failed;
};

#define O(f) offsetof(struct submit_cli, f)
static const struct aed_opt opts[] = {
	{ "shards", 0, AED_OPT_INT, O(shards), "N", "how many shards: tasks of the job array (required)",
	  AED_OPT_RANGE(1, 100000) },
	{ "partition", 'p', AED_OPT_STR, O(partition), "P", "Slurm partition",
	  .def_note = "the cluster's" },
	{ "time", 't', AED_OPT_STR, O(time), "T", "time limit of each job, as sbatch takes it (1:00:00)" },
	{ "mem", 0, AED_OPT_STR, O(mem), "M", "memory of each job, as sbatch takes it (8G)" },
	{ "cpus-per-task", 'c', AED_OPT_STR, O(cpus), "C", "CPUs of each job; its threads (--threads)" },
	{ "workdir", 'w', AED_OPT_STR, O(workdir), "DIR",
	  "scripts, shard databases, corpus and logs", .def_note = "./slurm-NAME, NAME the file's" },
	{ "bin", 0, AED_OPT_STR, O(bin), "PATH", "aedcurate on the nodes",
	  .def_note = "this binary" },
	{ "dry-run", 'n', AED_OPT_FLAG, O(dry_run), NULL,
	  "print the scripts and what would be submitted; write and submit nothing" },
	{ "local", 0, AED_OPT_FLAG, O(local), NULL,
	  "no Slurm: run the same scripts here, the shards one after another, then the merge" },
	{ "offline", 0, AED_OPT_FLAG, O(offline), NULL, "the runs get --offline (no URL probes)" },
	{ "allow-failed", 0, AED_OPT_FLAG, O(allow_failed), NULL,
	  "a shard with failed items still counts as done", .def_note = "it fails its task" },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "submit",
	.args = "FILE",
	.summary = "Run a pipeline on a Slurm cluster: a job array of shards, then a merge job.",
	.details =
		"Task I of the array runs the set-up and [shard] steps of FILE for shard I of N\n"
		"into WORKDIR/shards/shard-I.db (aedcurate run FILE --shard I/N); a job that\n"
		"depends on the array (afterok) merges the shards into WORKDIR/corpus.db and\n"
		"runs the steps after the [shard] ones there (run FILE --corpus). The scripts\n"
		"are WORKDIR/shard.sbatch and merge.sbatch, plain sh with #SBATCH lines.\n"
		"Submitting again submits only the shards not complete (a shard with failed\n"
		"items is not), then the merge; nothing when the corpus is complete. A failed\n"
		"task leaves the merge job cancelled; `aedcurate status WORKDIR` names the\n"
		"shard and its failed items. See include/aedcurate/submit.h.",
	.opts = opts,
	.min_args = 1,
	.max_args = 1,
};

static void print_list(const int *v, int n)
{
	for (int i = 0; i < n;) {
		int j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		printf(j > i ? "%s%d-%d" : "%s%d", i ? "," : "", v[i], v[j]);
		i = j + 1;
	}
	if (!n)
		printf("none");
}

static int print_json(const struct aed_submit_result *r, int dry_run, int local)
{
	json_t *todo = json_array();
	for (int i = 0; todo && i < r->n_todo; i++)
		json_array_append_new(todo, json_integer(r->todo[i]));
	json_t *j = todo ? json_pack("{s:s, s:i, s:o, s:b, s:s?, s:s?, s:b, s:b}", "workdir",
				     r->workdir, "shards", r->n_shards, "shards_run", todo,
				     "merge", r->merge, "array_job",
				     *r->array_job ? r->array_job : NULL, "merge_job",
				     *r->merge_job ? r->merge_job : NULL, "dry_run", dry_run, "local",
				     local) : NULL;
	if (j && dry_run) {
		json_object_set_new(j, "shard_script", json_string(r->shard_script));
		json_object_set_new(j, "merge_script", json_string(r->merge_script));
	}
	return cmd_print_json(j);
}

int cmd_submit(struct aed_ctx *ctx, int argc, char **argv)
{
	struct submit_cli c = { 0 };
	struct aed_submit_result r = { 0 };
	char bin[PATH_MAX], workdir[PATH_MAX];
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);
	if (rc)
		return rc;
	if (c.shards < 1)
		return aed_error(AED_EUSAGE, "submit: --shards N (1 or more) is required");
	if (c.dry_run && c.local)
		return aed_error(AED_EUSAGE, "submit: --dry-run and --local: give one");
	if (!c.workdir) {
		/* ./slurm-NAME, NAME the file's name without its folder and extension */
		const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
		size_t n = strcspn(base, ".");
		snprintf(workdir, sizeof workdir, "slurm-%.*s", (int)(n ? n : strlen(base)), base);
		c.workdir = workdir;
	}
	if (!c.bin) {
		if (!realpath("/proc/self/exe", bin))
			return aed_error(AED_EIO, "submit: cannot find this binary's path; give --bin");
		c.bin = bin;
	}
	struct aed_submit_opts o = {
		.pipeline = argv[0], .workdir = c.workdir, .bin = c.bin, .shards = c.shards,
		.partition = c.partition, .time = c.time, .mem = c.mem, .cpus_per_task = c.cpus,
		.offline = c.offline, .allow_failed = c.allow_failed, .dry_run = c.dry_run,
		.local = c.local,
	};
	rc = aed_submit(&o, &r);
	if (rc && !r.workdir)
		goto out;
	if (ctx->g.json) {
		int prc = print_json(&r, c.dry_run, c.local);
		rc = rc ? rc : prc;
		goto out;
	}
	if (c.dry_run) {
		printf("# %s/shard.sbatch\n%s\n# %s/merge.sbatch\n%s\n", r.workdir, r.shard_script,
		       r.workdir, r.merge_script);
		printf("# would submit: shards ");
		print_list(r.todo, r.n_todo);
		printf(" of %d%s\n", r.n_shards, r.merge ? ", then the merge job" :
		       " (the corpus is complete: nothing)");
	} else if (!rc) {
		printf("work dir %s: shards ", r.workdir);
		print_list(r.todo, r.n_todo);
		printf(" of %d %s", r.n_shards, c.local ? "run" : "submitted");
		if (*r.array_job)
			printf(" (job %s)", r.array_job);
		if (*r.merge_job)
			printf(", merge job %s", r.merge_job);
		else if (r.merge)
			printf(", merged");
		else
			printf("; the corpus is complete");
		printf("\n");
	}
out:
	aed_submit_result_release(&r);
	return rc;
}

/* --- status WORKDIR ------------------------------------------------------------- */

static json_t *job_json(const struct aed_slurm_task *t)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "id", t->job_id, "state", t->state, "reason",
			 t->reason, "exit_code", t->exit_code);
}

static int status_json(const struct aed_workdir_status *s)
{
	json_t *shards = json_array();
	for (int i = 0; shards && i < s->n_shards; i++) {
		const struct aed_shard_status *x = &s->shards[i];
		json_t *items = json_array();
		for (const char *p = x->failed_items; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			json_array_append_new(items, json_stringn(p, n));
			p += n + (nl ? 1 : 0);
		}
		json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:i, s:I, s:o, s:s?}", "shard", i, "state",
				      aed_shard_state_name(x->state), "db", x->db, "steps_done",
				      x->steps_done, "steps", x->steps, "failed", (json_int_t)x->failed,
				      "failed_items", items, "last_run", x->last_run);
		if (o && x->has_job)
			json_object_set_new(o, "job", job_json(&x->job));
		json_array_append_new(shards, o);
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:o, s:{s:b, s:i, s:i, s:i, s:b}, s:s?}",
			      "workdir", s->workdir, "pipeline", s->pipeline, "name", s->name,
			      "n_shards", s->n_shards, "shards", shards, "corpus", "exists",
			      s->corpus_exists, "merged", s->merged, "steps_done",
			      s->corpus_steps_done, "steps", s->corpus_steps, "complete",
			      s->corpus_complete, "slurm_error", s->slurm_error);
	if (j && s->has_merge_job)
		json_object_set_new(j, "merge_job", job_json(&s->merge_job));
	return cmd_print_json(j);
}

static void print_job(const char *what, const struct aed_slurm_task *t)
{
	printf("; %s %s: %s", what, t->job_id, t->state);
	if (*t->reason && strcmp(t->reason, "None"))
		printf(" (%s)", t->reason);
	if (*t->exit_code && strcmp(t->exit_code, "0:0"))
		printf(", exit %s", t->exit_code);
}

int cmd_status_workdir(struct aed_ctx *ctx, const char *dir)
{
	struct aed_workdir_status s;
	int rc = aed_workdir_status(dir, &s), n_failed = 0;
	if (rc)
		return rc;
	if (ctx->g.json) {
		rc = status_json(&s);
		goto out;
	}
	printf("work dir   %s\npipeline   %s (%s), %d shard%s\n", s.workdir, s.name, s.pipeline,
	       s.n_shards, s.n_shards == 1 ? "" : "s");
	for (int i = 0; i < s.n_shards; i++) {
		const struct aed_shard_status *x = &s.shards[i];
		printf("shard %-4d %-12s %d/%d steps", i, aed_shard_state_name(x->state), x->steps_done,
		       x->steps);
		if (x->failed)
			printf(", %lld failed item%s", (long long)x->failed, x->failed == 1 ? "" : "s");
		/* a run that failed for its failed items is told by the list below */
		if (x->last_run && x->state != AED_SHARD_COMPLETE && !x->failed)
			printf("; last run %s", x->last_run);
		if (x->has_job)
			print_job("Slurm job", &x->job);
		printf("\n");
		for (const char *p = x->failed_items; p && *p;) {
			const char *nl = strchr(p, '\n');
			int n = nl ? (int)(nl - p) : (int)strlen(p);
			printf("           failed: %.*s\n", n, p);
			p += n + (nl ? 1 : 0);
		}
		if (x->failed > 10)
			printf("           ... %lld more (aedcurate status --db %s)\n",
			       (long long)x->failed - 10, x->db);
		n_failed += x->state == AED_SHARD_FAILED;
	}
	printf("corpus     %s: %d of %d shards merged, %d/%d corpus steps",
	       s.corpus_complete ? "complete" : s.corpus_exists ? "incomplete" : "not made", s.merged,
	       s.n_shards, s.corpus_steps_done, s.corpus_steps);
	if (s.has_merge_job)
		print_job("merge job", &s.merge_job);
	printf("\n");
	if (n_failed) {
		printf("failed shards:");
		for (int i = 0; i < s.n_shards; i++)
			if (s.shards[i].state == AED_SHARD_FAILED)
				printf(" %d", i);
		printf(" (fix the cause, then submit again: only shards not complete run)\n");
	}
	if (s.slurm_error)
		printf("(job states unknown: %s)\n", s.slurm_error);
out:
	aed_workdir_status_release(&s);
	return rc;
}
