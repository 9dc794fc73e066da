/* segment.c - naming segments: "YTID_STARTMS" keys, numeric ids, file paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"

int aed_segment_lookup(struct aed_db *db, const char *name, int64_t *id)
{
	static const char *const queries[] = {
		"SELECT id FROM segment WHERE key = ?1",
		"SELECT id FROM segment WHERE path = ?1",
		"SELECT id FROM segment WHERE ytid = ?1 ORDER BY start_ms",
	};
	for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
		sqlite3_stmt *st;
		int rc = aed_db_prepare(db, queries[q], &st);
		if (rc)
			return rc;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int n = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			*id = sqlite3_column_int64(st, 0);
			n++;
		}
		sqlite3_finalize(st);
		if (n == 1)
			return AED_OK;
		if (n > 1)
			return aed_error(AED_ENOTFOUND, "segment '%s' is ambiguous: %d segments of "
					 "that source; name one as YTID_STARTMS", name, n);
	}
	char *end;
	long long v = strtoll(name, &end, 10);
	if (*name && !*end && v > 0) {
		int64_t found;
		char sql[96];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM segment WHERE id = %lld", v);
		if (aed_db_int(db, sql, &found) == AED_OK && found) {
			*id = v;
			return AED_OK;
		}
	}
	return aed_error(AED_ENOTFOUND, "no segment '%s' (expected YTID_STARTMS, a YouTube id, "
			 "a manifest path or a segment number)", name);
}
