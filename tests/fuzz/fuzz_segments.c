/* fuzz_segments.c - libFuzzer target for the segment-list readers
 * (src/format/seglist.c, strong.c, manifest.c) through the whole ingest stage
 * (src/stage/segments/), against an in-memory database holding a few real
 * classes. The first byte picks the format (auto, csv, strong, manifest), a
 * manifest column map, and --strict; the rest is the file. The result counts
 * must add up and match what was written; a --strict run that reports a bad
 * row must have written nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"

static struct aed_db *db;
static char path[64];

static int64_t count(const char *sql)
{
	int64_t v = -1;

	if (aed_db_int(db, sql, &v))
		abort();
	return v;
}

static void remove_input(void)
{
	unlink(path);
}

static void setup(void)
{
	int fd;

	if (aed_db_open(":memory:", AED_DB_CREATE, &db) ||
	    aed_db_exec(db, "INSERT INTO class(mid, name) VALUES ('/m/09x0r', 'Speech'), "
			    "('/m/04rlf', 'Music'), ('/m/05tny_', 'Bark'), ('/m/032s66', 'Gunshot, gunfire'), "
			    "('/t/dd00002', 'Baby cry, infant cry'), ('/m/0dup1', 'Same'), ('/m/0dup2', 'same')"))
		abort();
	snprintf(path, sizeof path, "/tmp/fuzz_segments.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	atexit(remove_input);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const maps[] = { NULL, "path=file,labels=mid,group=g", "path=p,id=ytid,start=s,end=e" };
	struct aed_segments_opts o = { 0 };
	struct aed_segments_result r;
	FILE *f;
	int rc;

	if (size < 1)
		return 0;
	if (!db)
		setup();
	f = fopen(path, "wb");
	if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f))
		abort();
	o.source = path;
	o.split = "fuzz";
	o.format = (enum aed_seg_format)(data[0] & 3);
	o.columns = o.format == AED_SEG_MANIFEST ? maps[(data[0] >> 2) % 3] : NULL;
	o.strict = (data[0] >> 4) & 1;
	o.cut = (data[0] >> 5) & 1;
	o.max_errors = 3;
	rc = aed_segments_ingest(db, &o, &r);
	if (rc == AED_OK) {
		int64_t sum = 0;

		for (int i = 0; i < AED_BAD_COUNT; i++)
			sum += r.bad_by[i];
		if (sum != r.bad || r.ingested + r.bad != r.rows || r.n_messages > 3 ||
		    (o.strict && r.bad))
			abort();
		if (count("SELECT count(*) FROM segment") != r.segments_new ||
		    count("SELECT count(*) FROM label") != r.labels ||
		    count("SELECT count(*) FROM strong_label") != r.strong_labels ||
		    count("SELECT count(*) FROM segment_source") != 1)
			abort();
	} else if (rc == AED_EFORMAT || rc == AED_ENOMEM) {
		if (count("SELECT count(*) FROM segment") != 0 ||
		    count("SELECT count(*) FROM segment_source") != 0)
			abort();
	} else {
		abort();
	}
	aed_segments_result_release(&r);
	if (aed_db_exec(db, "DELETE FROM strong_label; DELETE FROM label; DELETE FROM segment_split; "
			    "DELETE FROM segment_source; DELETE FROM split; DELETE FROM segment; DELETE FROM run"))
		abort();
	return 0;
}
