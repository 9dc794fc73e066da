/* test_cli_defaults.c - every command's --help shows the defaults its
 * stage's *_opts_init() gives. Each help is printed through aed_dispatch, as
 * the command line prints it; every "(default X" is read back and compared
 * with the opts_init() value, formatted as --help formats numbers (%g,
 * whole numbers, sizes as 2G). A default in a help that no stage value
 * covers fails unless the option is listed as a command's own (its default
 * then lives in its row alone), and so does an expected default missing
 * from its help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aedcurate/audio.h"
#include "aedcurate/cli.h"
#include "aedcurate/decode.h"
#include "aedcurate/embed.h"
#include "aedcurate/error.h"
#include "aedcurate/export.h"
#include "aedcurate/fetch.h"
#include "aedcurate/merge.h"
#include "aedcurate/metrics.h"
#include "aedcurate/mine.h"
#include "aedcurate/nn.h"
#include "aedcurate/ontology.h"
#include "aedcurate/refine.h"
#include "aedcurate/review.h"
#include "aedcurate/segments.h"
#include "main.h"

/* One expected default: what --help of cmd must show for --opt; "" for
 * none (an unset string or double: at most a note, "(default: ...)"). */
struct want {
	const char *cmd, *opt;
	char value[64];
};

static struct want wants[256];
static int n_wants;

/* Options whose default only the command has ("*": every command). */
static const char *const own[][2] = {
	{ "*", "threads" },          /* global: 0, all cores */
	{ "status", "runs" },
	{ "run", "probe-timeout" },
	{ "ontology tree", "depth" },
	{ "segments list", "limit" },
	{ "mine", "show" },
	{ "refine", "stages" },
	{ "tag", "top" },
};

static void want(const char *cmd, const char *opt, const char *fmt, ...)
{
	va_list ap;
	assert_true(n_wants < (int)(sizeof wants / sizeof wants[0]));
	wants[n_wants].cmd = cmd;
	wants[n_wants].opt = opt;
	va_start(ap, fmt);
	vsnprintf(wants[n_wants].value, sizeof wants[n_wants].value, fmt, ap);
	va_end(ap);
	n_wants++;
}

static void want_d(const char *cmd, const char *opt, double v) { want(cmd, opt, "%g", v); }
static void want_i(const char *cmd, const char *opt, long long v) { want(cmd, opt, "%lld", v); }
static void want_s(const char *cmd, const char *opt, const char *v) { want(cmd, opt, "%s", v ? v : ""); }

/* --help shows sizes in the largest unit dividing them. */
static void want_size(const char *cmd, const char *opt, int64_t v)
{
	if (v % ((int64_t)1 << 30) == 0)
		want(cmd, opt, "%lldG", (long long)(v >> 30));
	else
		want_i(cmd, opt, v);
}

/* The rows of `mine` and `eval mine` that both take from aed_mine_opts. */
static void want_mining(const char *cmd, const struct aed_mine_opts *m)
{
	want_s(cmd, "method", aed_mine_method_name(m->method));
	want_s(cmd, "score", aed_mine_score_name(m->score));
	want_i(cmd, "clusters", m->select.clusters);
	want_i(cmd, "min-exemplars", m->select.min_exemplars);
	want_d(cmd, "generic", m->select.generic_drop);
	want_i(cmd, "share", m->select.share);
	want_i(cmd, "sample", m->sample);
	want_s(cmd, "model", m->model_path);
	want_d(cmd, "ranker-weight", m->ranker_weight);
	want_d(cmd, "ranker-group", m->ranker_group);
	want_i(cmd, "max-queries", m->max_queries);
}

static void collect_wants(void)
{
	struct aed_decode_opts de;
	struct aed_features_opts fe;
	struct aed_embed_opts em;
	struct aed_fetch_opts fo;
	struct aed_export_opts ex;
	struct aed_refine_opts re;
	struct aed_priors_opts pr;
	struct aed_mine_opts mi;
	struct aed_eval_mine_opts ev;
	struct aed_eval_scores_opts es;
	struct aed_review_export_opts rv;
	struct aed_index_build_opts ix;
	struct aed_ontology_ingest_opts on;
	struct aed_segments_opts sg;
	struct aed_merge_opts mg;

	n_wants = 0;
	aed_decode_opts_init(&de);
	want_d("decode", "clip-seconds", de.clip_seconds);
	want_i("decode", "max-attempts", de.max_attempts);
	want_i("decode", "batch", de.batch);

	aed_features_opts_init(&fe);
	want_s("features", "preset", aed_preset_name(fe.preset));
	want_i("features", "max-attempts", fe.max_attempts);
	want_i("features", "batch", fe.batch);

	aed_embed_opts_init(&em);
	want_s("embed", "model", em.model_path);
	want_s("embed", "backend", em.backend);
	want_i("embed", "batch", em.batch);
	want_i("embed", "limit", em.limit);
	want_i("embed", "max-attempts", em.max_attempts);
	want_i("tag", "batch", em.batch); /* the same network batch */

	aed_fetch_opts_init(&fo);
	want_s("fetch", "media", fo.media_dir);
	want_i("fetch", "jobs", fo.jobs);
	want_i("fetch", "retries", fo.retries);
	want_d("fetch", "backoff", fo.backoff_s);
	want_d("fetch", "timeout", fo.timeout_s);
	want_d("fetch", "connect-timeout", fo.connect_timeout_s);
	want_d("fetch", "stall-timeout", fo.stall_s);
	want_d("fetch", "cmd-timeout", fo.cmd_timeout_s);
	want_size("fetch", "max-bytes", fo.max_bytes);
	want_s("fetch", "split", fo.split);
	want_i("fetch", "limit", fo.limit);
	want_i("fetch", "max-attempts", fo.max_attempts);

	aed_export_opts_init(&ex);
	want_s("export", "format", ex.format == AED_EXPORT_WEBDATASET ? "webdataset" : "tfrecord");
	want_i("export", "shard-size", ex.shard_size);
	want_i("export", "shards-per-split", ex.shards_per_split);
	want_s("export", "beta", ex.beta_set ? "set" : NULL);
	want_i("export", "seed", (long long)ex.seed);
	want_i("export", "mtime", ex.mtime);

	aed_refine_opts_init(&re);
	want_s("refine", "scorer", aed_scorer_name(re.scorer));
	want_s("refine", "method", aed_refine_method_name(re.method));
	want_i("refine", "hop-frames", re.hop_frames);
	want_d("refine", "consensus", re.consensus);
	want_d("refine", "gate-db", re.gate_db);
	want_d("refine", "gate-peak", re.gate_peak);
	want_d("refine", "gate-gap", re.gate_gap / 100.0); /* frames of 10 ms, shown in s */
	want_i("refine", "fine-rounds", re.fine_rounds);
	want_s("refine", "model", re.model_path);
	want_d("refine", "threshold", re.threshold);
	want_d("refine", "low", re.low);
	want_d("refine", "beta", re.beta);
	want_d("refine", "heldout", re.heldout);
	want_i("refine", "hidden", re.clf.hidden);
	want_i("refine", "epochs", re.clf.max_epochs);
	want_i("refine", "patience", re.clf.patience);
	want_d("refine", "lr", re.clf.lr);
	want_d("refine", "l2", re.clf.l2);
	want_i("refine", "min-positives", re.min_positives);
	want_i("refine", "iterations", re.iterations);
	want_i("refine", "ensemble", re.ensemble);
	want_i("refine", "seed", (long long)re.clf.seed);
	want_d("refine", "relabel", re.relabel);
	want_d("refine", "relabel-neg", re.relabel_neg);
	want_d("refine", "relabel-floor", re.relabel_floor);
	/* --no-gate and --embedding-only turn these off: on by default */
	assert_int_equal(re.gate, 1);
	assert_int_equal(re.with_scores, 1);

	aed_priors_opts_init(&pr);
	want_d("priors", "beta", pr.beta);

	aed_mine_opts_init(&mi);
	want_i("mine", "k", mi.k);
	want_mining("mine", &mi);
	want_i("mine", "seed", mi.select.seed);
	want_i("mine", "hits", mi.hits_per_query);

	aed_eval_mine_opts_init(&ev);
	want_i("eval mine", "exemplars", ev.exemplars_per_trial);
	want_i("eval mine", "trials", ev.trials);
	want_i("eval mine", "seed", (long long)ev.seed);
	want_i("eval mine", "rounds", ev.rounds);
	want_i("eval mine", "per-round", ev.per_round);
	want_i("eval mine", "kmeans-seed", ev.mine.select.seed);
	want_mining("eval mine", &ev.mine);

	aed_eval_scores_opts_init(&es);
	want_s("eval scores", "scorer", aed_scorer_name(es.scorer));
	want_s("eval scores", "pool", aed_pool_name(es.pool));
	want_d("eval scores", "threshold", es.threshold);
	want_i("eval scores", "min-positives", es.min_positives);

	aed_review_export_opts_init(&rv);
	want_i("review export", "run", rv.mine_run_id);
	want_i("review export", "limit", rv.limit);
	want_i("review export", "bitrate", rv.bitrate);

	aed_index_build_opts_init(&ix);
	want_s("index build", "factory", ix.factory);
	want_i("index build", "exact-below", ix.exact_max);
	want_i("index build", "nprobe", ix.nprobe);

	aed_ontology_ingest_opts_init(&on);
	want_i("ontology ingest", "timeout", on.timeout_s);

	aed_segments_opts_init(&sg);
	want_i("segments ingest", "max-errors", (long long)sg.max_errors);
	want_i("segments ingest", "timeout", sg.timeout_s);

	aed_merge_opts_init(&mg);
	want_i("merge", "max-conflicts", (long long)mg.max_listed);
}

/* --help of one command, as `aedcurate CMD --help` prints it. */
static char *help_of(const char *cmd)
{
	char buf[128], *argv[4] = { 0 }, *text = NULL;
	char path[] = "/tmp/aedclihelp.XXXXXX";
	int argc = 0, fd = mkstemp(path), saved;
	struct aed_ctx ctx = { 0 };
	size_t n = 0;
	FILE *f;

	assert_true(fd >= 0);
	snprintf(buf, sizeof buf, "%s", cmd);
	for (char *w = strtok(buf, " "); w; w = strtok(NULL, " "))
		argv[argc++] = w;
	argv[argc++] = "--help";
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0 && dup2(fd, STDOUT_FILENO) >= 0);
	int rc = aed_dispatch(&ctx, argc, argv);
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	close(fd);
	aed_parse_release();
	assert_int_equal(rc, AED_EUSAGE);
	assert_true(aed_help_requested());
	assert_true((f = fopen(path, "r")) != NULL);
	assert_int_equal(getdelim(&text, &n, 0, f) > 0, 1);
	fclose(f);
	unlink(path);
	return text;
}

/* The line of --opt in help ("  -c, --class NAME ...", "      --all ..."),
 * or NULL. */
static const char *option_line(const char *help, const char *opt, char *line, size_t n)
{
	size_t k = strlen(opt);
	for (const char *p = help; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len < n && !strncmp(p, "  ", 2)) {
			memcpy(line, p, len);
			line[len] = 0;
			char *at = strstr(line, "--");
			if (at && at < line + 8 && !strncmp(at + 2, opt, k) &&
			    (at[2 + k] == ' ' || at[2 + k] == 0))
				return line;
		}
		p += len + (e != NULL);
	}
	return NULL;
}

/* The value of "(default X" in line, "" when the default is only a note
 * ("(default: ...") or the line has none; 1 if it has one at all. */
static int default_of(const char *line, char *value, size_t n)
{
	const char *d = strstr(line, "(default");
	*value = 0;
	if (!d)
		return 0;
	d += strlen("(default");
	if (*d != ' ')
		return 1;
	d++;
	size_t len = strcspn(d, ":;)");
	snprintf(value, n, "%.*s", (int)len, d);
	return 1;
}

static int own_default(const char *cmd, const char *opt)
{
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if ((!strcmp(own[i][0], "*") || !strcmp(own[i][0], cmd)) && !strcmp(own[i][1], opt))
			return 1;
	return 0;
}

static const struct want *find_want(const char *cmd, const char *opt)
{
	for (int i = 0; i < n_wants; i++)
		if (!strcmp(wants[i].cmd, cmd) && !strcmp(wants[i].opt, opt))
			return &wants[i];
	return NULL;
}

/* Every expected default is in its command's help, with the stage's value. */
static void test_help_shows_opts_init_defaults(void **state)
{
	(void)state;
	collect_wants();
	for (int i = 0; i < n_wants; i++) {
		char *help = help_of(wants[i].cmd), line[1024], value[256];
		const char *l = option_line(help, wants[i].opt, line, sizeof line);
		if (!l)
			fail_msg("%s --help has no --%s", wants[i].cmd, wants[i].opt);
		default_of(l, value, sizeof value);
		if (strcmp(value, wants[i].value))
			fail_msg("%s --%s: --help says default '%s', the stage's opts_init() '%s'",
				 wants[i].cmd, wants[i].opt, value, wants[i].value);
		free(help);
	}
}

/* No help shows a default that neither a stage nor the command's own list
 * accounts for. */
static void test_every_shown_default_is_checked(void **state)
{
	int n_cmds = 0, n_defaults = 0;
	(void)state;
	collect_wants();
	for (const struct aed_command *c = aed_commands(); c->name; c++, n_cmds++) {
		char *help = help_of(c->name), value[256];
		for (char *p = help, *e; p && *p; p = e ? e + 1 : NULL) {
			e = strchr(p, '\n');
			if (e)
				*e = 0;
			char *at = strstr(p, "--"), opt[64];
			if (strncmp(p, "  ", 2) || !at || at > p + 8 || !default_of(p, value, sizeof value))
				continue;
			snprintf(opt, sizeof opt, "%.*s", (int)strcspn(at + 2, " "), at + 2);
			n_defaults++;
			if (!*value || own_default(c->name, opt))
				continue;
			if (!find_want(c->name, opt))
				fail_msg("%s --%s shows default %s, which no opts_init() value checks "
					 "(add it here, or to own[] if only the command has it)",
					 c->name, opt, value);
		}
		free(help);
	}
	assert_true(n_cmds >= 28);
	assert_true(n_defaults > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_shows_opts_init_defaults),
		cmocka_unit_test(test_every_shown_default_is_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
