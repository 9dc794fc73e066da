/* fetch.c - `aedcurate fetch`: argv -> struct aed_fetch_opts -> the fetch
 * stage; prints the summary (text or --json). */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/fetch.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

struct fetch_cli {
	struct aed_strlist from, names, urls, cmds;
	const char *media, *max_bytes, *split, *shard;
	long jobs, retries, limit, max_attempts;
	double backoff, timeout, connect_timeout, stall_timeout, cmd_timeout;
	int retry_unavailable, retry_failed, redo;
};

#define O(f) offsetof(struct fetch_cli, f)
static const struct aed_opt opts[] = {
	{ "from", 'f', AED_OPT_LIST, O(from), "DIR", "local folder to look in (searched recursively)" },
	{ "name", 0, AED_OPT_LIST, O(names), "TEMPLATE",
	  "file-name pattern in --from folders (default '{ytid}_{start_ms}.*' then '{ytid}.*')" },
	{ "url", 'u', AED_OPT_LIST, O(urls), "TEMPLATE", "download from this URL template" },
	{ "cmd", 'c', AED_OPT_LIST, O(cmds), "TEMPLATE", "run this shell command; it writes {out}" },
	{ "media", 'm', AED_OPT_STR, O(media), "DIR", "where downloads go (default <db>.media)" },
	{ "jobs", 'j', AED_OPT_LONG, O(jobs), "N", "transfers and commands at once (default 8)" },
	{ "retries", 0, AED_OPT_LONG, O(retries), "N",
	  "retries per source on timeouts, resets and 5xx (default 3)" },
	{ "backoff", 0, AED_OPT_DOUBLE, O(backoff), "S", "first retry delay, doubled each time (default 1)" },
	{ "timeout", 't', AED_OPT_DOUBLE, O(timeout), "S", "one whole transfer (default 600)" },
	{ "connect-timeout", 0, AED_OPT_DOUBLE, O(connect_timeout), "S", "connecting (default 15)" },
	{ "stall-timeout", 0, AED_OPT_DOUBLE, O(stall_timeout), "S",
	  "give up on a transfer receiving nothing this long (default 30)" },
	{ "cmd-timeout", 0, AED_OPT_DOUBLE, O(cmd_timeout), "S", "one command (default 3600)" },
	{ "max-bytes", 0, AED_OPT_STR, O(max_bytes), "N[KMG]", "size cap of one file (default 2G)" },
	{ "split", 's', AED_OPT_STR, O(split), "NAME", "only segments of this split" },
	{ "limit", 'n', AED_OPT_LONG, O(limit), "N", "only the first N selected segments" },
	{ "shard", 0, AED_OPT_STR, O(shard), "I/N", "only segments whose key hashes to shard I of N" },
	{ "max-attempts", 0, AED_OPT_LONG, O(max_attempts), "N",
	  "runs that may retry a failed segment (default 3)" },
	{ "retry-unavailable", 0, AED_OPT_FLAG, O(retry_unavailable), NULL,
	  "look again for segments recorded unavailable" },
	{ "retry-failed", 0, AED_OPT_FLAG, O(retry_failed), NULL,
	  "try failed segments again even after --max-attempts runs" },
	{ "redo", 0, AED_OPT_FLAG, O(redo), NULL, "look again for every segment" },
	{ 0 }
};
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

static int parse_size(const char *s, int64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		goto bad;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > 9e18)
		goto bad;
	*out = (int64_t)v;
	return AED_OK;
bad:
	return aed_error(AED_EUSAGE, "fetch: --max-bytes expects a size like 500M, not '%s'", s);
}

int cmd_fetch(struct aed_ctx *ctx, int argc, char **argv)
{
	struct fetch_cli c = { .retries = -1 };
	struct aed_fetch_opts o = { 0 };
	struct aed_fetch_summary s;
	int rc = aed_parse(ctx, &spec, argc, argv, &c, NULL);

	if (rc)
		goto out;
	o.from = c.from.v;
	o.n_from = c.from.n;
	o.names = c.names.v;
	o.n_names = c.names.n;
	o.urls = c.urls.v;
	o.n_urls = c.urls.n;
	o.cmds = c.cmds.v;
	o.n_cmds = c.cmds.n;
	o.media_dir = c.media;
	if (c.jobs < 0 || c.jobs > 1000 || c.limit < 0 || c.max_attempts < 0 || c.retries > 100) {
		rc = aed_error(AED_EUSAGE, "fetch: --jobs (1..1000), --limit, --max-attempts and "
			       "--retries (..100) must be sensible numbers");
		goto out;
	}
	o.jobs = (int)c.jobs;
	o.retries = (int)c.retries;
	o.backoff_s = c.backoff;
	o.timeout_s = c.timeout;
	o.connect_timeout_s = c.connect_timeout;
	o.stall_s = c.stall_timeout;
	o.cmd_timeout_s = c.cmd_timeout;
	if (c.max_bytes && (rc = parse_size(c.max_bytes, &o.max_bytes)))
		goto out;
	o.split = c.split;
	o.limit = c.limit;
	if (c.shard && (rc = aed_shard_parse(c.shard, &o.shard)))
		goto out;
	o.max_attempts = (int)c.max_attempts;
	o.retry_unavailable = c.retry_unavailable;
	o.retry_failed = c.retry_failed;
	o.redo = c.redo;
	if ((rc = aed_ctx_open_db(ctx, 0)))
		goto out;
	if ((rc = aed_fetch_run(ctx->db, &o, &s)))
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
