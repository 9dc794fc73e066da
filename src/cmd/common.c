/* common.c - helpers shared by several commands: their reports and the
 * options two of them share (not stage logic). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"

#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

/* Print j (indented, keys in insertion order) and a newline on stdout, then
 * free it; NULL (a failed json_pack) is an error too. */
int cmd_print_json(json_t *j)
{
	int rc = AED_OK;

	if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
		rc = aed_error(AED_EIO, "writing JSON to stdout failed");
	else
		fputc('\n', stdout);
	json_decref(j);
	return rc;
}

/* Name the first few segments this run failed, with their reasons. */
void cmd_warn_failures(struct aed_db *db, const char *stage, int64_t run_id, int64_t failed)
{
	sqlite3_stmt *st;
	if (failed <= 0 || aed_db_prepare(db, "SELECT s.key, w.error FROM work w JOIN segment s ON "
					      "s.id = w.item WHERE w.stage = ? AND w.run_id = ? AND "
					      "w.state = 'failed' ORDER BY w.item LIMIT 5", &st))
		return;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, run_id);
	while (sqlite3_step(st) == SQLITE_ROW)
		aed_warn("%s: %s: %s", stage, (const char *)sqlite3_column_text(st, 0),
			 (const char *)sqlite3_column_text(st, 1));
	if (failed > 5)
		aed_warn("%s: ... and %" PRId64 " more (the work table has every reason)", stage, failed - 5);
	sqlite3_finalize(st);
}


int cmd_mine_finish(const char *cmd, const char *method, const char *score, int no_share,
		    struct aed_mine_opts *o)
{
	if (!strcmp(method, "exemplar"))
		o->method = AED_MINE_EXEMPLAR;
	else if (!strcmp(method, "mean"))
		o->method = AED_MINE_MEAN;
	else
		return aed_error(AED_EUSAGE, "%s: --method '%s': expected exemplar or mean", cmd,
				 method);
	if (!strcmp(score, "z"))
		o->score = AED_MINE_SCORE_Z;
	else if (!strcmp(score, "raw"))
		o->score = AED_MINE_SCORE_RAW;
	else
		return aed_error(AED_EUSAGE, "%s: --score '%s': expected z or raw", cmd, score);
	if (no_share)
		o->select.share = -1;
	if (o->exclude_group_verified && !o->exclude_group)
		return aed_error(AED_EUSAGE, "%s: --exclude-group-verified goes with --exclude-group", cmd);
	return AED_OK;
}
