/* submit.h - a pipeline split into shards on a Slurm cluster: the work dir,
 * its job scripts, what is complete in it, and submitting what is not
 * (`aedcurate submit`, `aedcurate status WORKDIR`).
 *
 * The pipeline's [shard] marks (pipeline.h) divide it: every shard I of N
 * runs the set-up and [shard] steps into its own database (one task of a
 * job array), then one job, started only when every task succeeded
 * (afterok), merges the shard databases and runs the corpus steps on the
 * merged database.
 *
 * Work dir layout (every path below is inside it):
 *   submit.json         the pipeline (absolute path), N, the folder jobs
 *                       start in, and every submission's job ids
 *   shard.sbatch        the job array's script: task I runs
 *                         aedcurate run PIPELINE --shard I/N --db shards/shard-I.db
 *                                   --sole-writer
 *   merge.sbatch        the merge job's script:
 *                         aedcurate merge shards/shard-*.db --into corpus.db
 *                         aedcurate run PIPELINE --corpus --db corpus.db
 *   shards/shard-I.db   shard I's database (and shard-I.db.arrays/)
 *   corpus.db           the merged corpus (its arrays stay in the shards')
 *   logs/shard-I.out    task I's output, appended to by every submission
 *   logs/merge.out      the merge job's output, likewise
 * Scripts are plain sh with #SBATCH lines, and need only aedcurate on the
 * nodes (its absolute path is written in them); jobs start in the folder
 * `submit` ran in, so a pipeline's relative paths mean what they mean to
 * `aedcurate run` there. The submitter's environment goes with the jobs
 * (sbatch's default), so ${ENV} in the pipeline reads the same values.
 *
 * Complete: a shard whose database holds a finished record of each set-up
 * and [shard] step (by step name; a [shard] step's command ending in
 * --shard I/N) and no failed item; the corpus when every shard is merged
 * into corpus.db and each corpus step finished after the last merge. A
 * submission submits the shards not complete (a job array of just those)
 * and the merge job, which depends on it; with every shard complete the merge
 * job alone; with the corpus complete, nothing. A submission is refused while
 * a job of an earlier one is still pending or running.
 *
 * Stopped tasks: both scripts are requeueable (#SBATCH --requeue), and each
 * job is the only writer of its database (Slurm runs one instance of a task
 * at a time; a submission waits for the last one's jobs), so its runs are
 * given --sole-writer: a task requeued onto another node takes over the
 * claims its killed start left there. A cancelled task (the merge job is
 * then cancelled too) leaves its shard incomplete, for the next submission.
 *
 * Ownership: aed_submit() and aed_workdir_status() fill caller-owned
 * results, released with aed_submit_result_release() and
 * aed_workdir_status_release(). Functions return an enum aed_status.
 */
#ifndef AEDCURATE_SUBMIT_H
#define AEDCURATE_SUBMIT_H

#include <stdint.h>

#include "aedcurate/slurm.h"

struct aed_submit_opts {
	const char *pipeline;   /* the pipeline file */
	const char *workdir;    /* created if missing */
	const char *bin;        /* aedcurate, absolute: what the scripts run */
	int shards;             /* N >= 1 */
	/* #SBATCH values, NULL when not set: letters, digits and _.:,+- only */
	const char *partition, *time, *mem, *cpus_per_task;
	int offline;            /* runs get --offline */
	int allow_failed;       /* shard runs get --allow-failed */
	int dry_run;            /* make the scripts, write and submit nothing */
	int local;              /* run the scripts here, one after another, no Slurm */
};

struct aed_submit_result {
	char *workdir;             /* absolute */
	char *shard_script;        /* the scripts' text */
	char *merge_script;
	int n_shards;
	int *todo;                 /* shards submitted (or run, or to be) */
	int n_todo;
	int merge;                 /* the merge job was submitted (or run, or would be) */
	char array_job[32];        /* "" when none was submitted */
	char merge_job[32];
	int failed_shard;          /* --local: the shard whose script failed, else -1 */
};

int aed_submit(const struct aed_submit_opts *o, struct aed_submit_result *res);
void aed_submit_result_release(struct aed_submit_result *res);

enum aed_shard_state {
	AED_SHARD_NOT_STARTED, /* no database yet */
	AED_SHARD_RUNNING,     /* its run is alive (on another host: and its task runs) */
	AED_SHARD_INCOMPLETE,  /* started, not finished, nothing failed */
	AED_SHARD_FAILED,      /* items failed, or its last run failed */
	AED_SHARD_COMPLETE,
};
const char *aed_shard_state_name(enum aed_shard_state s);

struct aed_shard_status {
	enum aed_shard_state state;
	char *db;                  /* absolute path of its database */
	int steps_done, steps;     /* set-up and [shard] steps finished / in all */
	int64_t failed;            /* failed items */
	char *failed_items;        /* up to 10 lines "STAGE KEY: ERROR", or NULL */
	char *last_run;            /* "failed: MESSAGE" of its last run, or NULL */
	int run_elsewhere;         /* its last run is recorded running on another host */
	int has_job;               /* job below known to Slurm */
	struct aed_slurm_task job; /* its task of the last array it was in */
};

struct aed_workdir_status {
	char *workdir, *pipeline, *name;
	int n_shards;
	struct aed_shard_status *shards;
	int corpus_exists, merged, corpus_steps_done, corpus_steps;
	int corpus_complete;
	int has_merge_job;
	struct aed_slurm_task merge_job;
	char array_job[32], merge_job_id[32];  /* of the last submission, "" if none */
	char *slurm_error;         /* why job states could not be read, or NULL */
};

/* What is complete in a work dir, and (when Slurm answers) the states of the
 * last submission's jobs. */
int aed_workdir_status(const char *workdir, struct aed_workdir_status *st);
void aed_workdir_status_release(struct aed_workdir_status *st);

#endif
