/* run_shard.c - `run --shard I/N` and `run --corpus`: the failed items that
 * keep a shard from being done, and whether a merge came after a step. */
#include <inttypes.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/cluster.h"

int run_failed_items(struct aed_db *db, int64_t *n)
{
	return aed_db_int(db, "SELECT count(*) FROM work WHERE state = 'failed'", n);
}

int run_unfinished_items(struct aed_db *db, int64_t *n)
{
	return aed_db_int(db, "SELECT count(*) FROM work WHERE state <> 'done'", n);
}

int run_check_claimed(struct aed_db *db, const char *shard)
{
	sqlite3_stmt *st;
	struct aed_buf b = { 0 };
	int64_t n = 0;
	int rc;
	if ((rc = aed_db_int(db, "SELECT count(*) FROM work WHERE state = 'claimed'", &n)) || !n)
		return rc;
	if ((rc = aed_db_prepare(db, "SELECT w.run_id, coalesce(r.stage, w.stage), coalesce(r.host, "
				     "'?'), coalesce(r.pid, 0), count(*) FROM work w LEFT JOIN run r "
				     "ON r.id = w.run_id WHERE w.state = 'claimed' GROUP BY w.run_id "
				     "ORDER BY w.run_id LIMIT 3", &st)))
		return rc;
	while (!rc && sqlite3_step(st) == SQLITE_ROW)
		rc = aed_buf_printf(&b, "%srun %lld (%s on %s, pid %lld): %lld", b.len ? "; " : "",
				    (long long)sqlite3_column_int64(st, 0),
				    (const char *)sqlite3_column_text(st, 1),
				    (const char *)sqlite3_column_text(st, 2),
				    (long long)sqlite3_column_int64(st, 3),
				    (long long)sqlite3_column_int64(st, 4));
	sqlite3_finalize(st);
	if (!rc)
		rc = aed_error(AED_ESTATE, "shard %s: %" PRId64 " item%s still claimed by other runs "
			       "(%s): the shard is not done. If those processes are gone (a task "
			       "requeued onto another node), run again with --sole-writer", shard, n,
			       n == 1 ? " is" : "s are", b.data ? b.data : "");
	aed_buf_release(&b);
	return rc;
}

int run_report_failed(struct aed_db *db, const char *shard, int64_t n, int allow)
{
	sqlite3_stmt *st;
	struct aed_buf b = { 0 };
	int rc;
	if ((rc = aed_db_prepare(db, "SELECT w.stage, coalesce(s.key, w.item), coalesce(w.error, '') "
				     "FROM work w LEFT JOIN segment s ON s.id = w.item WHERE "
				     "w.state = 'failed' ORDER BY w.stage, w.item LIMIT 3", &st)))
		return rc;
	while (!rc && sqlite3_step(st) == SQLITE_ROW)
		rc = aed_buf_printf(&b, "%s%s %s: %.200s", b.len ? "; " : "",
				    (const char *)sqlite3_column_text(st, 0),
				    (const char *)sqlite3_column_text(st, 1),
				    (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	if (rc) {
		aed_buf_release(&b);
		return rc;
	}
	if (allow) {
		aed_warn("shard %s: %" PRId64 " item%s failed (%s%s); going on (--allow-failed)", shard,
			 n, n == 1 ? "" : "s", b.data ? b.data : "", n > 3 ? "; ..." : "");
		rc = AED_OK;
	} else {
		rc = aed_error(AED_ESTATE, "shard %s: %" PRId64 " item%s failed (%s%s): the shard is not "
			       "done; fix the cause and run again (its steps retry them), or pass "
			       "--allow-failed", shard, n, n == 1 ? "" : "s", b.data ? b.data : "",
			       n > 3 ? "; ..." : "");
	}
	aed_buf_release(&b);
	return rc;
}

int run_merged_since(struct aed_db *db, const char *when)
{
	sqlite3_stmt *st;
	int since = 0;
	if (aed_db_prepare(db, "SELECT 1 FROM merge_shard WHERE merged_at > ? LIMIT 1", &st))
		return 0;
	sqlite3_bind_text(st, 1, when, -1, SQLITE_STATIC);
	since = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return since;
}
