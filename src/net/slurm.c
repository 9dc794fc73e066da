/* slurm.c - running Slurm's client commands by fork/exec and reading their
 * answers (slurm.h). Knows nothing of pipelines or work dirs. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/slurm.h"
#include "aedcurate/util.h"

#define CAPTURE_MAX (1 << 20)

static int wait_status(pid_t pid, int *status)
{
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return aed_error(AED_EIO, "waitpid: %s", strerror(errno));
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
	return AED_OK;
}

/* In the child after fork: only async-signal-safe calls, then exec. A failure
 * to start is reported through errpipe (close-on-exec, so a successful exec
 * closes it without a word). */
static void child_exec(const char *const *argv, char *const *envp, const char *cwd, int out_fd,
		       int err_fd, int errpipe)
{
	int e, devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
	    (cwd && chdir(cwd) != 0))
		goto fail;
	signal(SIGPIPE, SIG_DFL);
	execvpe(argv[0], (char *const *)argv, envp ? envp : environ);
fail:
	e = errno;
	if (write(errpipe, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

/* After fork: did exec succeed? Reads the child's errno, if it sent one. */
static int exec_result(const char *prog, int errpipe)
{
	int e = 0;
	ssize_t r;
	while ((r = read(errpipe, &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(errpipe);
	if (r != (ssize_t)sizeof e)
		return AED_OK;
	if (e == ENOENT)
		return aed_error(AED_ENOTFOUND, "%s: not found (is it installed and on PATH?)", prog);
	return aed_error(AED_EIO, "%s: cannot start: %s", prog, strerror(e));
}

static int drain(int fd, struct aed_buf *b, int *open_)
{
	char tmp[4096];
	ssize_t r = read(fd, tmp, sizeof tmp);
	if (r < 0 && errno == EINTR)
		return AED_OK;
	if (r <= 0) {
		*open_ = 0;
		return AED_OK;
	}
	if (b->len + (size_t)r > CAPTURE_MAX)
		r = b->len < CAPTURE_MAX ? (ssize_t)(CAPTURE_MAX - b->len) : 0;
	return r ? aed_buf_append(b, tmp, (size_t)r) : AED_OK;
}

int aed_exec_capture(const char *const *argv, const char *cwd, char **out, char **err,
		     int *status)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, px[2] = { -1, -1 }, rc = AED_OK;
	struct aed_buf bo = { 0 }, be = { 0 };
	pid_t pid;

	if (out)
		*out = NULL;
	if (err)
		*err = NULL;
	*status = -1;
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC) || pipe2(px, O_CLOEXEC)) {
		rc = aed_error(AED_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		rc = aed_error(AED_EIO, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(argv, NULL, cwd, po[1], pe[1], px[1]);
	close(po[1]);
	close(pe[1]);
	close(px[1]);
	po[1] = pe[1] = px[1] = -1;
	int oo = 1, eo = 1;
	while (!rc && (oo || eo)) {
		struct pollfd f[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { eo ? pe[0] : -1, POLLIN, 0 } };
		if (poll(f, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = aed_error(AED_EIO, "poll: %s", strerror(errno));
			break;
		}
		if (oo && (f[0].revents & (POLLIN | POLLHUP | POLLERR)))
			rc = drain(po[0], &bo, &oo);
		if (!rc && eo && (f[1].revents & (POLLIN | POLLHUP | POLLERR)))
			rc = drain(pe[0], &be, &eo);
	}
	int wrc = wait_status(pid, status);
	int xrc = exec_result(argv[0], px[0]);
	px[0] = -1;
	rc = rc ? rc : xrc ? xrc : wrc;
	if (!rc && (!bo.data && (rc = aed_buf_append(&bo, "", 0))))
		goto out;
	if (!rc && (!be.data && (rc = aed_buf_append(&be, "", 0))))
		goto out;
	if (!rc && out) {
		*out = bo.data;
		bo.data = NULL;
	}
	if (!rc && err) {
		*err = be.data;
		be.data = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
		if (px[i] >= 0)
			close(px[i]);
	}
	aed_buf_release(&bo);
	aed_buf_release(&be);
	return rc;
}

/* The last non-empty line of a command's stderr, for a message. */
static void last_line(const char *s, char *buf, size_t n)
{
	const char *best = NULL, *p = s;
	size_t blen = 0;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len) {
			best = p;
			blen = len;
		}
		p += len + (e ? 1 : 0);
	}
	snprintf(buf, n, "%.*s", best ? (int)blen : 0, best ? best : "");
}

int aed_slurm_sbatch(const char *script, const char *const *args, const char *cwd,
		     char job_id[32])
{
	const char *argv[40];
	int k = 0, status, rc;
	char *out = NULL, *err = NULL;

	argv[k++] = "sbatch";
	argv[k++] = "--parsable";
	for (; args && *args && k < 37; args++)
		argv[k++] = *args;
	argv[k++] = script;
	argv[k] = NULL;
	if ((rc = aed_exec_capture(argv, cwd, &out, &err, &status)))
		return aed_error_prefix(rc, "submitting %s", script);
	if (status != 0) {
		char line[512];
		last_line(err, line, sizeof line);
		rc = aed_error(AED_ESTATE, "sbatch %s: exit %d: %s", script, status,
			       *line ? line : "(no message)");
		goto out;
	}
	/* --parsable: "ID" or "ID;CLUSTER" */
	size_t n = strspn(out, "0123456789");
	if (n == 0 || n >= 32 || (out[n] && out[n] != ';' && out[n] != '\n')) {
		rc = aed_error(AED_EFORMAT, "sbatch %s: no job id in its answer '%.80s'", script, out);
		goto out;
	}
	memcpy(job_id, out, n);
	job_id[n] = 0;
out:
	free(out);
	free(err);
	return rc;
}

/* The value of " KEY=" in a `scontrol show job -o` line, up to the next blank. */
static void field(const char *line, const char *key, char *buf, size_t n)
{
	size_t kl = strlen(key);
	buf[0] = 0;
	for (const char *p = line; (p = strstr(p, key)); p += kl) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			size_t len = strcspn(p + kl + 1, " \n");
			snprintf(buf, n, "%.*s", (int)len, p + kl + 1);
			return;
		}
	}
}

static int add_task(struct aed_slurm_task **v, size_t *n, size_t *cap, const struct aed_slurm_task *t)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct aed_slurm_task *nv = realloc(*v, nc * sizeof *nv);
		if (!nv)
			return aed_error(AED_ENOMEM, "out of memory");
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = *t;
	return AED_OK;
}

/* "0-3,5%2" (pending tasks of an array): one record per task. */
static int add_range(struct aed_slurm_task **v, size_t *n, size_t *cap, struct aed_slurm_task *t,
		     const char *spec)
{
	char *end;
	int rc = AED_OK;
	const char *p = spec;
	while (!rc && isdigit((unsigned char)*p)) {
		long a = strtol(p, &end, 10), b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		if (b < a || b - a > 1000000)
			return aed_error(AED_EFORMAT, "scontrol: array tasks '%s'", spec);
		for (long i = a; i <= b && !rc; i++) {
			t->task = (int)i;
			rc = add_task(v, n, cap, t);
		}
		p = *end == ',' ? end + 1 : end;
	}
	return rc;
}

int aed_slurm_job_tasks(const char *job_id, struct aed_slurm_task **tasks, size_t *n)
{
	const char *argv[] = { "scontrol", "show", "job", "-o", job_id, NULL };
	char *out = NULL, *err = NULL, line_err[512];
	int status, rc;
	size_t cap = 0;

	*tasks = NULL;
	*n = 0;
	if ((rc = aed_exec_capture(argv, NULL, &out, &err, &status)))
		return rc;
	if (status != 0) {
		last_line(err, line_err, sizeof line_err);
		/* A job purged from the controller's memory is simply gone. */
		if (!strstr(err, "Invalid job id"))
			rc = aed_error(AED_ESTATE, "scontrol show job %s: exit %d: %s", job_id, status,
				       line_err);
		goto out;
	}
	for (char *line = out; *line && !rc;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		struct aed_slurm_task t = { .task = -1 };
		char task[256];
		field(line, "JobId", t.job_id, sizeof t.job_id);
		field(line, "JobState", t.state, sizeof t.state);
		field(line, "Reason", t.reason, sizeof t.reason);
		field(line, "ExitCode", t.exit_code, sizeof t.exit_code);
		field(line, "ArrayTaskId", task, sizeof task);
		if (*t.job_id) {
			if (!*task)
				rc = add_task(tasks, n, &cap, &t);
			else
				rc = add_range(tasks, n, &cap, &t, task);
		}
		line = nl ? nl + 1 : line + strlen(line);
	}
out:
	free(out);
	free(err);
	if (rc)
		aed_slurm_tasks_free(tasks), *n = 0;
	return rc;
}

void aed_slurm_tasks_free(struct aed_slurm_task **tasks)
{
	free(*tasks);
	*tasks = NULL;
}

int aed_slurm_run_here(const char *script, int task, const char *cwd, const char *log,
		       int *status)
{
	static const char var[] = "SLURM_ARRAY_TASK_ID=";
	int px[2] = { -1, -1 }, fd = -1, rc = AED_OK;
	char id[48];
	size_t n = 0, k = 0;
	char **envp = NULL;
	pid_t pid;

	/* The environment is built here: the child may only exec. */
	while (environ[n])
		n++;
	if (!(envp = calloc(n + 2, sizeof *envp)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], var, sizeof var - 1))
			envp[k++] = environ[i];
	snprintf(id, sizeof id, "%s%d", var, task);
	if (task >= 0)
		envp[k++] = id;
	const char *argv[] = { "sh", script, NULL };
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
		rc = aed_error(AED_EIO, "%s: %s", log, strerror(errno));
		goto out;
	}
	if (pipe2(px, O_CLOEXEC)) {
		rc = aed_error(AED_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		rc = aed_error(AED_EIO, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(argv, envp, cwd, fd, fd, px[1]);
	close(px[1]);
	px[1] = -1;
	rc = wait_status(pid, status);
	int xrc = exec_result("sh", px[0]);
	px[0] = -1;
	rc = xrc ? xrc : rc;
out:
	if (px[0] >= 0)
		close(px[0]);
	if (px[1] >= 0)
		close(px[1]);
	if (fd >= 0)
		close(fd);
	free(envp);
	return rc;
}
