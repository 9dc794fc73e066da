/* child.c - shell commands in process groups of their own: the fetch stage's
 * --cmd sources ("yt-dlp -o {out} ..."), which write a segment's audio file
 * into a folder of their own. Here: the environment with the run's mark, the
 * fork and exec, the stderr tail, the exit, killing and reaping the whole
 * group, and finding the file a command wrote. What to run, the timeout and
 * what to record are the stage's (src/stage/fetch/).
 *
 * The group -- the tools the shell started, not just the shell -- is killed
 * and waited for on every way a command ends: exit (before its output is
 * taken), timeout, and the stage stopping (error, SIGINT/SIGTERM). A kill -9
 * of the stage runs no code: the shell dies with it (PR_SET_PDEATHSIG), and
 * what it started is killed by the next run's reaping of the dead run, found
 * by the mark every command carries in its environment
 * (aed_run_command_mark(), store/run.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "aedcurate/util.h"

#define TAIL_KEEP AED_CHILD_TAIL_KEEP

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void aed_rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int aed_child_env_new(const char *mark, char ***env)
{
	extern char **environ;
	size_t n = 0, k = 0, var = strcspn(mark, "=") + 1;

	while (environ && environ[n])
		n++;
	*env = calloc(n + 2, sizeof **env);
	if (!*env)
		return aed_error(AED_ENOMEM, "out of memory");
	/* An inherited mark (we run inside another run's command) is replaced:
	 * ours are this run's commands. */
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], mark, var))
			(*env)[k++] = environ[i];
	(*env)[k] = (char *)mark;
	return AED_OK;
}

int aed_child_subreaper_begin(void)
{
	int was = 0;

	if (prctl(PR_GET_CHILD_SUBREAPER, &was) == 0 &&
	    prctl(PR_SET_CHILD_SUBREAPER, 1L) == 0)
		return was;
	return -1;
}

void aed_child_subreaper_end(int was)
{
	if (was >= 0)
		prctl(PR_SET_CHILD_SUBREAPER, (long)was);
}

/* Kill a command's process group and wait until nothing of it is left, so no
 * tool the command started can write after this returns. Call it while the
 * leader (pid == pgid, the shell) is not yet reaped: until then the group's
 * number cannot have been reused, so the SIGKILL reaches our group and nobody
 * else's (the kill(-pgid, 0) calls after that only ask). One SIGKILL is
 * enough: the kernel makes a fork racing a group signal deliver it to the new
 * child too. The caller is the subreaper of its commands
 * (aed_child_subreaper_begin()), so members whose parent died become our
 * children and are reaped here rather than by init. The leader's wait status
 * goes to *leader_status. The wait for the others is bounded (5 s): a member
 * stuck in the kernel, or one whose parent outside the group never reaps it,
 * is left. */
static void group_kill(pid_t pgid, int *leader_status)
{
	double until = aed_now() + 5;
	int st, leader_reaped = 0;
	pid_t r;

	kill(-pgid, SIGKILL);
	kill(pgid, SIGKILL); /* the shell, even if it moved to another group */
	for (;;) {
		while ((r = waitpid(-pgid, &st, WNOHANG)) > 0)
			if (r == pgid) {
				leader_reaped = 1;
				if (leader_status)
					*leader_status = st;
			}
		if (kill(-pgid, 0) != 0 && errno == ESRCH)
			break;
		if (aed_now() > until) {
			aed_warn("command process group %ld did not exit after SIGKILL", (long)pgid);
			break;
		}
		usleep(1000);
	}
	if (!leader_reaped && waitpid(pgid, &st, 0) == pgid && leader_status)
		*leader_status = st;
}

void aed_child_kill(struct aed_child *c, int *wstatus)
{
	group_kill(c->pid, wstatus);
}

int aed_child_start(struct aed_child *c, const char *cmd, char **env)
{
	int pfd[2] = { -1, -1 }, devnull = -1, rc = AED_OK;
	pid_t parent;

	if (pipe2(pfd, O_CLOEXEC) != 0 || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		rc = aed_error(AED_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	parent = getpid();
	c->pid = fork();
	if (c->pid < 0) {
		rc = aed_error(AED_EIO, "fork: %s", strerror(errno));
		c->pid = 0;
		goto out;
	}
	if (c->pid == 0) {
		/* Only async-signal-safe calls here: libcurl may have threads. */
		char *argv[] = { "sh", "-c", (char *)cmd, NULL };

		setpgid(0, 0);
		/* If we are killed (even -9) the shell goes too; what it starts is
		 * left to the group kills and the dead run's reaping (see the top). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the caller died before the line above */
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(pfd[1], 2);
		execve("/bin/sh", argv, env);
		_exit(127);
	}
	/* Both sides set the group, so it exists before either goes on. */
	setpgid(c->pid, c->pid);
	close(pfd[1]);
	pfd[1] = -1;
	fcntl(pfd[0], F_SETFL, fcntl(pfd[0], F_GETFL) | O_NONBLOCK);
	c->err_fd = pfd[0];
	pfd[0] = -1;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	return rc;
}

static void read_stderr(struct aed_child *c)
{
	char buf[4096];
	ssize_t n;

	while (c->err_fd >= 0 && (n = read(c->err_fd, buf, sizeof buf)) > 0) {
		aed_buf_append(&c->tail, buf, (size_t)n);
		if (c->tail.len > 4 * TAIL_KEEP) {
			memmove(c->tail.data, c->tail.data + c->tail.len - TAIL_KEEP, TAIL_KEEP);
			c->tail.len = TAIL_KEEP;
		}
	}
}

int aed_child_poll(struct aed_child *c, int *wstatus)
{
	siginfo_t si;

	read_stderr(c);
	/* WNOWAIT: the shell stays a zombie, its pid (the group's number)
	 * held, until group_kill() has killed what it left behind and reaps
	 * it; its output is taken only after that. */
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == c->pid) {
		group_kill(c->pid, wstatus);
		return 1;
	}
	return 0;
}

/* The last lines of stderr, at most TAIL_KEEP bytes, trimmed. */
static void tail_text(struct aed_child *c, char *out, size_t cap)
{
	const char *p = c->tail.data ? c->tail.data : "";
	size_t n = c->tail.len;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\r'))
		n--;
	if (n > TAIL_KEEP) {
		p += n - TAIL_KEEP;
		n = TAIL_KEEP;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

void aed_child_end(struct aed_child *c, char *out, size_t cap)
{
	read_stderr(c);
	close(c->err_fd);
	c->err_fd = -1;
	tail_text(c, out, cap);
	c->pid = 0;
}

/* The file the command wrote: {out} itself, else the largest file in its
 * folder ("{out}.opus" from tools that add an extension). */
char *aed_child_output(const char *dir, const char *name)
{
	struct aed_buf best = { 0 };
	off_t best_size = -1;
	struct stat st;
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char p[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (!strcmp(de->d_name, name))
			st.st_size = (off_t)INT64_MAX; /* {out} itself wins */
		if (st.st_size > best_size) {
			best.len = 0;
			if (aed_buf_printf(&best, "%s", de->d_name))
				break;
			best_size = st.st_size;
		}
	}
	if (d)
		closedir(d);
	return best.data;
}
