/* fetch.c - `aedcurate fetch`: argv -> struct aed_fetch_opts -> the fetch
 * stage; prints the summary (text or --json). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/fetch.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

/* The stage's options, and the repeatable options until they are copied
 * into its arrays. */
struct fetch_cli {
	struct aed_fetch_opts s;
	struct aed_strlist from, names, urls, cmds;
};

#define O(f) offsetof(struct fetch_cli, f)
#define SECONDS(dflt) .def.d = (dflt), AED_OPT_AT_LEAST(0)
static const struct aed_opt opts[] = {
	{ "from", 'f', AED_OPT_LIST, O(from), "DIR", "local folder to look in, searched recursively" },
	{ "name", 0, AED_OPT_LIST, O(names), "TEMPLATE", "file-name pattern in --from folders",
	  .def_note = "'{ytid}_{start_ms}.*' then '{ytid}.*'" },
	{ "url", 'u', AED_OPT_LIST, O(urls), "TEMPLATE", "download from this URL template" },
	{ "cmd", 'c', AED_OPT_LIST, O(cmds), "TEMPLATE", "run this shell command; it writes {out}" },
	{ "media", 'm', AED_OPT_STR, O(s.media_dir), "DIR", "where downloads go",
	  .def_note = "<db>.media" },
	{ "jobs", 'j', AED_OPT_INT, O(s.jobs), "N", "transfers and commands at once",
	  .def.i = AED_FETCH_JOBS_DEFAULT, AED_OPT_RANGE(0, 1000) },
	{ "retries", 0, AED_OPT_INT, O(s.retries), "N",
	  "retries per source on timeouts, resets and 5xx", .def.i = AED_FETCH_RETRIES_DEFAULT,
	  AED_OPT_RANGE(0, 100) },
	{ "backoff", 0, AED_OPT_DOUBLE, O(s.backoff_s), "S", "first retry delay, doubled each time",
	  SECONDS(AED_FETCH_BACKOFF_DEFAULT) },
	{ "timeout", 't', AED_OPT_DOUBLE, O(s.timeout_s), "S", "one whole transfer",
	  SECONDS(AED_FETCH_TIMEOUT_DEFAULT) },
	{ "connect-timeout", 0, AED_OPT_DOUBLE, O(s.connect_timeout_s), "S", "connecting",
	  SECONDS(AED_FETCH_CONNECT_TIMEOUT_DEFAULT) },
	{ "stall-timeout", 0, AED_OPT_DOUBLE, O(s.stall_s), "S",
	  "give up on a transfer receiving nothing this long", SECONDS(AED_FETCH_STALL_DEFAULT) },
	{ "cmd-timeout", 0, AED_OPT_DOUBLE, O(s.cmd_timeout_s), "S", "one command",
	  SECONDS(AED_FETCH_CMD_TIMEOUT_DEFAULT) },
	{ "max-bytes", 0, AED_OPT_SIZE, O(s.max_bytes), "N[KMG]", "size cap of one file",
	  .def.i = AED_FETCH_MAX_BYTES_DEFAULT },
	{ "split", 's', AED_OPT_STR, O(s.split), "NAME", "only segments of this split" },
	{ "limit", 'n', AED_OPT_INT64, O(s.limit), "N", "only the first N selected segments",
	  AED_OPT_AT_LEAST(0), .def_note = "all" },
	CMD_OPT_SHARD(O(s.shard)),
	CMD_OPT_MAX_ATTEMPTS(O(s.max_attempts)),
	{ "retry-unavailable", 0, AED_OPT_FLAG, O(s.retry_unavailable), NULL,
	  "look again for segments recorded unavailable" },
	{ "retry-failed", 0, AED_OPT_FLAG, O(s.retry_failed), NULL,
	  "try failed segments again even after --max-attempts runs" },
	CMD_OPT_REDO(O(s.redo), "look again for every segment"),
	{ 0 }
};
#undef SECONDS
#undef O

static const struct aed_cmd_spec spec = {
	.name = "fetch",
	.summary = "Find or download each segment's audio and record where it is.",
	.details =
		"Sources are tried in order: a manifest row's own path, the --from folders,\n"
		"the --url templates, the --cmd templates. Templates use {ytid} {start_ms}\n"
		"{end_ms} {start} {end} (seconds) {key} and, in --cmd, {out}; values are\n"
		"URL-encoded in URLs and single-quoted in commands (do not quote them\n"
		"yourself). A template with a start variable names one file per segment;\n"
		"without one the file is the whole recording and decode cuts the range.\n"
		"Downloads go to a .part file, resumed with Range after an interruption (from\n"
		"a server that ignores Range, downloaded whole again), and are renamed when\n"
		"complete. 404/410 mean unavailable (not retried); timeouts and 5xx are\n"
		"retried with exponential backoff. Results: the media table.",
	.opts = opts,
	.max_args = 0,
};

int cmd_fetch(struct aed_ctx *ctx, int argc, char **argv)
{
	struct fetch_cli c = { 0 };
	struct aed_fetch_opts *o = &c.s;
	struct aed_fetch_summary s;
	aed_fetch_opts_init(o);
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);

	if (rc)
		goto out;
	o->from = c.from.v;
	o->n_from = c.from.n;
	o->names = c.names.v;
	o->n_names = c.names.n;
	o->urls = c.urls.v;
	o->n_urls = c.urls.n;
	o->cmds = c.cmds.v;
	o->n_cmds = c.cmds.n;
	if ((rc = aed_ctx_open_db(ctx, 0)))
		goto out;
	if ((rc = aed_fetch_run(ctx->db, o, &s)))
		goto out;
	if (ctx->g.json)
		printf("{\"run_id\": %" PRId64 ", \"selected\": %" PRId64 ", \"processed\": %" PRId64
		       ", \"ok\": %" PRId64 ", \"unavailable\": %" PRId64 ", \"failed\": %" PRId64
		       ", \"downloaded\": %" PRId64 ", \"commands\": %" PRId64 ", \"bytes\": %" PRId64
		       ", \"seconds\": %.3f}\n", s.run_id, s.selected, s.processed, s.ok,
		       s.unavailable, s.failed, s.downloaded, s.commands, s.bytes, s.seconds);
	else
		aed_info("fetch: %" PRId64 " segments looked at: %" PRId64 " ok, %" PRId64
			 " unavailable, %" PRId64 " failed; %" PRId64 " downloads (%" PRId64
			 " bytes), %" PRId64 " commands in %.1f s", s.processed, s.ok,
			 s.unavailable, s.failed, s.downloaded, s.bytes, s.commands, s.seconds);
out:
	/* The option lists themselves belong to the parser (aed_parse_release). */
	return rc;
}
