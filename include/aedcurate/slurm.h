/* slurm.h - Slurm's client commands (sbatch, scontrol), each run by fork and
 * exec with its words as separate arguments: nothing goes through a shell,
 * so no path or option value is ever parsed as shell text.
 *
 * Ownership: strings and arrays returned through pointers are malloc'd and
 * the caller frees them (aed_slurm_tasks_free for task lists). Every function
 * returns an enum aed_status and records a message on failure.
 */
#ifndef AEDCURATE_SLURM_H
#define AEDCURATE_SLURM_H

#include <stddef.h>

/* Run argv (argv[0] looked up in PATH) in folder cwd (NULL: this one) with
 * stdin from /dev/null. *out and *err receive its stdout and stderr (the
 * first MiB of each, NUL-terminated; either pointer may be NULL to drop
 * it); *status its exit status, or 128 + the signal that ended it.
 * AED_ENOTFOUND when the program is not installed, AED_EIO when it cannot
 * be started. */
int aed_exec_capture(const char *const *argv, const char *cwd, char **out, char **err,
		     int *status);

/* `sbatch --parsable ARGS... SCRIPT`, run in cwd: job_id receives the id it
 * prints (up to a ';' and a cluster name). AED_ENOTFOUND when sbatch is not
 * installed; AED_ESTATE with sbatch's message when it refuses the job. */
int aed_slurm_sbatch(const char *script, const char *const *args, const char *cwd,
		     char job_id[32]);

/* One job, or one task of a job array, as `scontrol show job` reports it. */
struct aed_slurm_task {
	int task;          /* array task id; -1 for a job that is not an array */
	char job_id[32];   /* the task's own job id ("12"); the array's for pending tasks */
	char state[32];    /* JobState: PENDING RUNNING COMPLETED FAILED CANCELLED ... */
	char reason[96];   /* Reason: None, Dependency, DependencyNeverSatisfied, ... */
	char exit_code[16];/* ExitCode "1:0" */
};

/* The job (or every task of the array) with this id. A job Slurm no longer
 * knows (ended longer ago than its MinJobAge) gives *n = 0 and AED_OK;
 * AED_ENOTFOUND when scontrol is not installed, AED_ESTATE when the
 * controller does not answer. Pending tasks kept as one record
 * ("ArrayTaskId=1-3,5") come out one per task. */
int aed_slurm_job_tasks(const char *job_id, struct aed_slurm_task **tasks, size_t *n);
void aed_slurm_tasks_free(struct aed_slurm_task **tasks);

/* Run `sh SCRIPT` in cwd as Slurm would run one task of it, without Slurm:
 * SLURM_ARRAY_TASK_ID=task in its environment (when task >= 0), stdout and
 * stderr appended to log. *status: its exit status (128 + signal). */
int aed_slurm_run_here(const char *script, int task, const char *cwd, const char *log,
		       int *status);

#endif
