/* merge.c - the merge stage: shard databases into one corpus database, one
 * transaction per shard (ATTACH, then INSERT ... SELECT per table through
 * temp id maps). What matches what, and what counts as a conflict, is in
 * include/aedcurate/merge.h. Not the command line: src/cmd/merge.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/merge.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

/* Model files a corpus may hold (the first ones are compared). */
#define MAX_MODELS 16

/* Tables made over a whole corpus after a merge: counted, never merged. */
static const char *const corpus_tables[] = {
	"vec_index", "vec_map", "vec_segment", "mine_run", "mine_exemplar", "candidate",
	"review_export", "review_item", "review_import", "rating", "rating_label",
	"review_decision", "class_prior", "refine_class", "frame_score", "frame_mask",
	"frame_mask_fine", "soft_label", "export", "export_sample", "pipeline_step",
};

/* Ids of the shard -> ids of the corpus, per table (temp: per connection). */
static const char maps_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS m_run(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
	"CREATE TEMP TABLE IF NOT EXISTS m_split(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
	"CREATE TEMP TABLE IF NOT EXISTS m_ver(src INTEGER PRIMARY KEY, dst INTEGER);"
	"CREATE TEMP TABLE IF NOT EXISTS m_class(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
	"CREATE TEMP TABLE IF NOT EXISTS m_model(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
	/* differs: the corpus's segment of that key has other columns. */
	"CREATE TEMP TABLE IF NOT EXISTS m_seg(src INTEGER PRIMARY KEY, dst INTEGER, "
	"differs INTEGER NOT NULL);"
	"CREATE TEMP TABLE IF NOT EXISTS m_file(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
	"DELETE FROM m_run; DELETE FROM m_split; DELETE FROM m_ver; DELETE FROM m_class;"
	"DELETE FROM m_model; DELETE FROM m_seg; DELETE FROM m_file;";

/* The process identity of a run (merge.h). */
#define SAME_RUN(c, r)                                                                         \
	c ".pid = " r ".pid AND " c ".pid_start = " r ".pid_start AND " c ".host = " r ".host AND " \
	c ".stage = " r ".stage AND " c ".started_at = " r ".started_at"

/* Writes into the corpus, in order; ?1 is the shard's absolute path. Each
 * inserts only what is missing (or upgrades: media 'ok', work 'done'), so a
 * shard merged again changes nothing. Conflict checks run between them. */
static const char *const sql_runs[] = {
	"INSERT INTO main.run(stage, params, started_at, ended_at, n_done, n_failed, outcome, "
	"message, host, pid, pid_start, shard_db, shard_run_id) "
	"SELECT r.stage, r.params, r.started_at, r.ended_at, r.n_done, r.n_failed, "
	"CASE r.outcome WHEN 'running' THEN 'interrupted' ELSE r.outcome END, "
	"CASE r.outcome WHEN 'running' THEN 'running in the shard when it was merged' "
	"ELSE r.message END, r.host, r.pid, r.pid_start, coalesce(r.shard_db, ?1), "
	"coalesce(r.shard_run_id, r.id) FROM shard.run r WHERE NOT EXISTS "
	"(SELECT 1 FROM main.run c WHERE " SAME_RUN("c", "r") ") ORDER BY r.id",
	/* A run that was still going at the last merge of this shard and has
	 * ended since. */
	"UPDATE main.run SET ended_at = r.ended_at, n_done = r.n_done, n_failed = r.n_failed, "
	"outcome = r.outcome, message = r.message FROM shard.run r "
	"WHERE run.shard_db = ?1 AND run.shard_run_id = r.id AND r.shard_db IS NULL AND "
	"r.outcome <> 'running' AND (run.outcome IS NOT r.outcome OR run.n_done IS NOT r.n_done "
	"OR run.n_failed IS NOT r.n_failed OR run.ended_at IS NOT r.ended_at)",
	"INSERT OR IGNORE INTO temp.m_run SELECT r.id, c.id FROM shard.run r JOIN main.run c "
	"ON " SAME_RUN("c", "r"),
	"INSERT INTO main.split(name) SELECT s.name FROM shard.split s WHERE NOT EXISTS "
	"(SELECT 1 FROM main.split c WHERE c.name = s.name) ORDER BY s.id",
	"INSERT INTO temp.m_split SELECT s.id, c.id FROM shard.split s JOIN main.split c "
	"ON c.name = s.name",
	"INSERT INTO main.ontology_version(source, sha256, n_classes, ingested_at) "
	"SELECT v.source, v.sha256, v.n_classes, v.ingested_at FROM shard.ontology_version v "
	"WHERE NOT EXISTS (SELECT 1 FROM main.ontology_version c WHERE c.sha256 = v.sha256 AND "
	"c.source = v.source) ORDER BY v.id",
	"INSERT INTO temp.m_ver SELECT v.id, (SELECT min(c.id) FROM main.ontology_version c "
	"WHERE c.sha256 = v.sha256 AND c.source = v.source) FROM shard.ontology_version v",
	NULL
};

static const char conflict_class_sql[] =
	"SELECT s.mid, 'class differs (another ontology?)' FROM shard.class s JOIN main.class c "
	"ON c.mid = s.mid WHERE c.name IS NOT s.name OR c.is_abstract IS NOT s.is_abstract OR "
	"c.is_blacklist IS NOT s.is_blacklist OR c.label_index IS NOT s.label_index";

static const char *const sql_classes[] = {
	"INSERT INTO main.class(mid, name, description, citation_uri, is_abstract, is_blacklist, "
	"label_index, version_id) SELECT s.mid, s.name, s.description, s.citation_uri, "
	"s.is_abstract, s.is_blacklist, s.label_index, "
	"(SELECT dst FROM temp.m_ver WHERE src = s.version_id) FROM shard.class s "
	"WHERE NOT EXISTS (SELECT 1 FROM main.class c WHERE c.mid = s.mid) ORDER BY s.id",
	"INSERT INTO temp.m_class SELECT s.id, c.id FROM shard.class s JOIN main.class c "
	"ON c.mid = s.mid",
	"INSERT OR IGNORE INTO main.class_edge(parent_id, child_id, ord) "
	"SELECT p.dst, k.dst, e.ord FROM shard.class_edge e JOIN temp.m_class p ON p.src = "
	"e.parent_id JOIN temp.m_class k ON k.src = e.child_id",
	"INSERT OR IGNORE INTO main.class_closure(ancestor_id, descendant_id, depth) "
	"SELECT a.dst, d.dst, x.depth FROM shard.class_closure x JOIN temp.m_class a ON a.src = "
	"x.ancestor_id JOIN temp.m_class d ON d.src = x.descendant_id",
	"INSERT OR IGNORE INTO main.class_example(class_id, ytid, start_ms, end_ms) "
	"SELECT k.dst, x.ytid, x.start_ms, x.end_ms FROM shard.class_example x "
	"JOIN temp.m_class k ON k.src = x.class_id",
	"INSERT INTO main.model(name, sha256, path, embed_dim, n_classes, patch_frames, "
	"patch_hop, quantized, macs, added_at) SELECT m.name, m.sha256, m.path, m.embed_dim, "
	"m.n_classes, m.patch_frames, m.patch_hop, m.quantized, m.macs, m.added_at "
	"FROM shard.model m WHERE NOT EXISTS (SELECT 1 FROM main.model c WHERE c.sha256 = "
	"m.sha256) ORDER BY m.id",
	"INSERT INTO temp.m_model SELECT m.id, c.id FROM shard.model m JOIN main.model c "
	"ON c.sha256 = m.sha256",
	NULL
};

/* Segments, when the shard's may differ from the corpus's. */
static const char *const sql_segments[] = {
	/* Segments: first those the corpus holds under the same id (shards
	 * made as copies of one database: nearly all, found in one pass in id
	 * order), then one look-up by key for each of the others, which finds
	 * the ones it has under another id (and whether they agree). */
	"INSERT INTO temp.m_seg SELECT s.id, c.id, c.ytid IS NOT s.ytid OR c.start_ms IS NOT "
	"s.start_ms OR c.end_ms IS NOT s.end_ms OR c.path IS NOT s.path OR c.source_group IS NOT "
	"s.source_group OR c.meta IS NOT s.meta FROM shard.segment s JOIN main.segment c ON "
	"c.id = s.id AND c.key = s.key",
	"INSERT INTO temp.m_seg SELECT s.id, c.id, c.id IS NOT NULL AND (c.ytid IS NOT s.ytid "
	"OR c.start_ms IS NOT s.start_ms OR c.end_ms IS NOT s.end_ms OR c.path IS NOT s.path OR "
	"c.source_group IS NOT s.source_group OR c.meta IS NOT s.meta) FROM shard.segment s "
	"LEFT JOIN main.segment c ON c.key = s.key WHERE (SELECT count(*) FROM temp.m_seg) < "
	"(SELECT count(*) FROM shard.segment) AND NOT EXISTS (SELECT 1 FROM temp.m_seg m "
	"WHERE m.src = s.id)",
	"INSERT INTO main.segment(key, ytid, start_ms, end_ms, path, source_group, meta, shard) "
	"SELECT s.key, s.ytid, s.start_ms, s.end_ms, s.path, s.source_group, s.meta, s.shard "
	"FROM temp.m_seg m JOIN shard.segment s ON s.id = m.src WHERE m.dst IS NULL "
	"ORDER BY m.src",
	"UPDATE temp.m_seg SET dst = (SELECT c.id FROM main.segment c WHERE c.key = "
	"(SELECT s.key FROM shard.segment s WHERE s.id = m_seg.src)) WHERE dst IS NULL",
	NULL
};

/* Tables a shard's ingests write, each in its key order. When every one of
 * them digests alike in the shard and in the corpus (same_ingest()), the
 * shard's segments, splits and labels are the corpus's, ids included: none is
 * copied or looked up, and only the segments its results name are mapped. A
 * shard that ran the same ingests as the corpus's first shard (every shard of
 * `submit`, or copies of one database) is merged at the cost of reading these
 * tables once, not of probing the corpus for each row. */
static const char *const ingest_digest_sql[] = {
	"SELECT * FROM %s.segment ORDER BY id",
	"SELECT * FROM %s.segment_split ORDER BY segment_id, split_id",
	"SELECT * FROM %s.label ORDER BY segment_id, class_id, source",
	"SELECT * FROM %s.strong_label ORDER BY segment_id, class_id, start_s, end_s",
};
#define N_INGEST_TABLES (sizeof ingest_digest_sql / sizeof *ingest_digest_sql)

/* Every class and split of the shard has the corpus's id (after their maps). */
#define SAME_CLASS_SPLIT_IDS                                                               \
	"NOT EXISTS (SELECT 1 FROM temp.m_class WHERE dst <> src) AND NOT EXISTS "        \
	"(SELECT 1 FROM temp.m_split WHERE dst <> src)"

/* The segments the shard's results name, as themselves (same_ingest()). */
static const char *const sql_segments_same[] = {
	"INSERT INTO temp.m_seg SELECT id, id, 0 FROM shard.segment WHERE id IN (SELECT "
	"segment_id FROM shard.media UNION SELECT segment_id FROM shard.clip UNION SELECT "
	"segment_id FROM shard.embedding UNION SELECT item FROM shard.array_ref UNION SELECT "
	"item FROM shard.work)",
	NULL
};

/* Per-segment results: each first checked (kind, query giving key + what). */
static const char *const conflict_sql[] = {
	"SELECT s.key, 'segment row differs' FROM temp.m_seg m JOIN shard.segment s ON s.id = "
	"m.src WHERE m.differs",
	"SELECT s.key, printf('media differs (sha256 %s here, %s in the shard)', c.sha256, "
	"x.sha256) FROM shard.media x JOIN temp.m_seg m ON m.src = x.segment_id JOIN main.media "
	"c ON c.segment_id = m.dst JOIN shard.segment s ON s.id = x.segment_id WHERE c.status = "
	"'ok' AND x.status = 'ok' AND c.sha256 IS NOT x.sha256",
	"SELECT s.key, 'clip differs' FROM shard.clip x JOIN temp.m_seg m ON m.src = "
	"x.segment_id JOIN main.clip c ON c.segment_id = m.dst JOIN shard.segment s ON s.id = "
	"x.segment_id WHERE c.n_samples IS NOT x.n_samples OR c.n_total IS NOT x.n_total OR "
	"c.start_ms IS NOT x.start_ms OR c.source_rate IS NOT x.source_rate OR c.channels IS NOT "
	"x.channels OR c.codec IS NOT x.codec OR c.peak IS NOT x.peak OR c.rms_db IS NOT x.rms_db",
	"SELECT s.key, 'embedding row differs (model or patches)' FROM shard.embedding x "
	"JOIN temp.m_seg m ON m.src = x.segment_id JOIN main.embedding c ON c.segment_id = "
	"m.dst JOIN temp.m_model mm ON mm.src = x.model_id JOIN shard.segment s ON s.id = "
	"x.segment_id WHERE c.model_id <> mm.dst OR c.n_patches <> x.n_patches",
	NULL
};

/* Whether every segment, class and split of the shard has the same id in the
 * corpus (shards made as copies of one database, merged into a corpus made
 * from them): then the three largest tables are copied without the maps,
 * which halves the time of a merge that brings nothing new. */
static const char same_ids_sql[] =
	"SELECT NOT EXISTS (SELECT 1 FROM temp.m_seg WHERE dst IS NOT src) AND " SAME_CLASS_SPLIT_IDS;

static const char *const sql_labels[] = {
	"INSERT OR IGNORE INTO main.segment_split(segment_id, split_id) SELECT m.dst, p.dst "
	"FROM shard.segment_split x JOIN temp.m_seg m ON m.src = x.segment_id "
	"JOIN temp.m_split p ON p.src = x.split_id",
	"INSERT OR IGNORE INTO main.label(segment_id, class_id, source) SELECT m.dst, k.dst, "
	"x.source FROM shard.label x JOIN temp.m_seg m ON m.src = x.segment_id "
	"JOIN temp.m_class k ON k.src = x.class_id",
	"INSERT OR IGNORE INTO main.strong_label(segment_id, class_id, start_s, end_s) "
	"SELECT m.dst, k.dst, x.start_s, x.end_s FROM shard.strong_label x JOIN temp.m_seg m "
	"ON m.src = x.segment_id JOIN temp.m_class k ON k.src = x.class_id",
	NULL
};

/* The same, when same_ids_sql holds. */
static const char *const sql_labels_same_ids[] = {
	"INSERT OR IGNORE INTO main.segment_split(segment_id, split_id) SELECT segment_id, "
	"split_id FROM shard.segment_split",
	"INSERT OR IGNORE INTO main.label(segment_id, class_id, source) SELECT segment_id, "
	"class_id, source FROM shard.label",
	"INSERT OR IGNORE INTO main.strong_label(segment_id, class_id, start_s, end_s) "
	"SELECT segment_id, class_id, start_s, end_s FROM shard.strong_label",
	NULL
};

static const char *const sql_rows[] = {
	"INSERT INTO main.segment_source(source, format, split_id, sha256, n_rows, n_bad, "
	"ingested_at) SELECT x.source, x.format, p.dst, x.sha256, x.n_rows, x.n_bad, "
	"x.ingested_at FROM shard.segment_source x LEFT JOIN temp.m_split p ON p.src = "
	"x.split_id WHERE NOT EXISTS (SELECT 1 FROM main.segment_source c WHERE c.source = "
	"x.source AND c.format = x.format AND c.sha256 = x.sha256 AND c.split_id IS p.dst) "
	"ORDER BY x.id",
	"INSERT INTO main.media(segment_id, status, path, whole_video, size, sha256, source, kind, "
	"error, http_status, exit_status, attempts, fetched_at, run_id) SELECT m.dst, x.status, "
	"x.path, x.whole_video, x.size, x.sha256, x.source, x.kind, x.error, x.http_status, "
	"x.exit_status, x.attempts, x.fetched_at, r.dst FROM shard.media x JOIN temp.m_seg m "
	"ON m.src = x.segment_id LEFT JOIN temp.m_run r ON r.src = x.run_id WHERE true "
	"ON CONFLICT(segment_id) DO UPDATE SET status = excluded.status, path = excluded.path, "
	"whole_video = excluded.whole_video, size = excluded.size, sha256 = excluded.sha256, "
	"source = excluded.source, kind = excluded.kind, error = excluded.error, "
	"http_status = excluded.http_status, exit_status = excluded.exit_status, "
	"attempts = excluded.attempts, fetched_at = excluded.fetched_at, run_id = excluded.run_id "
	"WHERE media.status <> 'ok' AND excluded.status = 'ok'",
	"INSERT OR IGNORE INTO main.clip(segment_id, n_samples, n_total, start_ms, source_rate, "
	"channels, codec, peak, rms_db, run_id) SELECT m.dst, x.n_samples, x.n_total, "
	"x.start_ms, x.source_rate, x.channels, x.codec, x.peak, x.rms_db, r.dst FROM "
	"shard.clip x JOIN temp.m_seg m ON m.src = x.segment_id LEFT JOIN temp.m_run r ON "
	"r.src = x.run_id",
	"INSERT OR IGNORE INTO main.embedding(segment_id, model_id, n_patches, run_id) "
	"SELECT m.dst, mm.dst, x.n_patches, r.dst FROM shard.embedding x JOIN temp.m_seg m ON "
	"m.src = x.segment_id JOIN temp.m_model mm ON mm.src = x.model_id LEFT JOIN temp.m_run "
	"r ON r.src = x.run_id",
	"INSERT OR IGNORE INTO main.array_ref(kind, item, file_id, offset, nbytes, dtype, dim0, "
	"dim1, dim2, run_id) SELECT x.kind, m.dst, f.dst, x.offset, x.nbytes, x.dtype, x.dim0, "
	"x.dim1, x.dim2, r.dst FROM shard.array_ref x JOIN temp.m_seg m ON m.src = x.item "
	"JOIN temp.m_file f ON f.src = x.file_id LEFT JOIN temp.m_run r ON r.src = x.run_id",
	/* Every stage with work rows is a segment stage: item is a segment id. */
	"INSERT INTO main.work(stage, item, state, attempts, run_id, error, updated_at) "
	"SELECT x.stage, m.dst, CASE x.state WHEN 'claimed' THEN 'pending' ELSE x.state END, "
	"x.attempts, r.dst, x.error, x.updated_at FROM shard.work x JOIN temp.m_seg m ON m.src = "
	"x.item LEFT JOIN temp.m_run r ON r.src = x.run_id WHERE true "
	"ON CONFLICT(stage, item) DO UPDATE SET state = excluded.state, attempts = "
	"excluded.attempts, run_id = excluded.run_id, error = excluded.error, updated_at = "
	"excluded.updated_at WHERE work.state <> 'done' AND excluded.state = 'done'",
	NULL
};

struct merge {
	struct aed_db *db;
	const struct aed_merge_opts *o;
	struct aed_merge_result *res;
	struct aed_merge_shard *cur;
	size_t max_listed;
	/* The corpus's ingest tables' digests, while valid (same_ingest()), and
	 * its PRAGMA data_version then (another connection's commit changes it). */
	unsigned char corpus_digest[N_INGEST_TABLES][32];
	int corpus_digest_ok;
	int64_t corpus_version;
};

static int add_conflict(struct merge *m, const char *key, const char *what)
{
	m->cur->n_conflicts++;
	m->res->n_conflicts++;
	if (m->res->n_listed >= m->max_listed)
		return AED_OK;
	char **c = realloc(m->res->conflicts, (m->res->n_listed + 1) * sizeof *c);
	if (!c)
		return aed_error(AED_ENOMEM, "out of memory");
	m->res->conflicts = c;
	if (asprintf(&c[m->res->n_listed], "%s: %s: %s", m->cur->path, key, what) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	m->res->n_listed++;
	return AED_OK;
}

/* Run one statement binding ?1 to the shard path; corpus rows it wrote
 * count as new. */
static int exec1(struct merge *m, const char *sql, int counts)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(m->db, sql, &st);
	if (rc)
		return rc;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_text(st, 1, m->cur->path, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(m->db, "merging");
	else if (counts)
		m->cur->n_new += sqlite3_changes64(aed_db_sqlite(m->db));
	sqlite3_finalize(st);
	return rc;
}

/* Whether a statement writes a temp.m_* map: bookkeeping, not corpus rows. */
static int writes_map(const char *sql)
{
	const char *into = strstr(sql, "INTO ");
	return !strncmp(sql, "UPDATE temp.", 12) || (into && !strncmp(into + 5, "temp.", 5));
}

static int exec_list(struct merge *m, const char *const *list)
{
	int rc = AED_OK;
	for (size_t i = 0; list[i] && !rc; i++)
		rc = exec1(m, list[i], !writes_map(list[i]));
	return rc;
}

/* Rows of a query (key, what) are conflicts. */
static int conflicts_of(struct merge *m, const char *sql)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(m->db, sql, &st), s;
	if (rc)
		return rc;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW)
		rc = add_conflict(m, (const char *)sqlite3_column_text(st, 0),
				  (const char *)sqlite3_column_text(st, 1));
	if (!rc && s != SQLITE_DONE)
		rc = aed_db_error(m->db, "checking conflicts");
	sqlite3_finalize(st);
	return rc;
}

/* The file an array_file path names, as array.c resolves it. */
static void file_path(char *buf, size_t n, const char *array_dir, const char *p)
{
	if (p[0] == '/')
		snprintf(buf, n, "%s", p);
	else
		snprintf(buf, n, "%s/%s", array_dir, p);
}

static int read_at(const char *path, int64_t off, int64_t nb, unsigned char **out)
{
	int rc = AED_OK, fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	*out = malloc(nb ? (size_t)nb : 1);
	if (!*out)
		rc = aed_error(AED_ENOMEM, "out of memory");
	else if (fd < 0)
		rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
	while (!rc && got < (size_t)nb) {
		ssize_t k = pread(fd, *out + got, (size_t)nb - got, (off_t)(off + (int64_t)got));
		if (k <= 0)
			rc = aed_error(AED_EIO, "%s: short read at %lld", path,
				       (long long)(off + (int64_t)got));
		else
			got += (size_t)k;
	}
	if (fd >= 0)
		close(fd);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* Copy the first n bytes of src to dst (created or replaced), synced. The
 * bytes go to dst.tmp, renamed over dst once synced: dst may be a copy the
 * corpus already reads (a shard file that grew since the last merge), and a
 * kill -9 mid-copy must leave that copy whole. */
static int copy_file(const char *src, const char *dst, int64_t n)
{
	char buf[1 << 16], tmp[8200];
	int rc = AED_OK, in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
	int64_t done = 0;
	if (in < 0)
		return aed_error(AED_EIO, "%s: %s", src, strerror(errno));
	snprintf(tmp, sizeof tmp, "%s.tmp", dst);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		rc = aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
	while (!rc && done < n) {
		size_t want = (size_t)(n - done < (int64_t)sizeof buf ? n - done : (int64_t)sizeof buf);
		ssize_t k = pread(in, buf, want, (off_t)done);
		if (k <= 0) {
			rc = aed_error(AED_EIO, "%s: short read at %lld", src, (long long)done);
			break;
		}
		for (ssize_t w = 0; w < k;) {
			ssize_t j = write(out, buf + w, (size_t)(k - w));
			if (j < 0 && errno == EINTR)
				continue;
			if (j < 0) {
				rc = aed_error(AED_EIO, "%s: %s", dst, strerror(errno));
				break;
			}
			w += j;
		}
		done += k;
	}
	if (!rc && fdatasync(out) != 0)
		rc = aed_error(AED_EIO, "%s: fdatasync: %s", tmp, strerror(errno));
	if (out >= 0)
		close(out);
	close(in);
	if (!rc && rename(tmp, dst) != 0)
		rc = aed_error(AED_EIO, "%s: rename to %s: %s", tmp, dst, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* array_file rows of the shard: the corpus names the shard's file by its
 * absolute path, or (copy) its own copy. */
static int merge_files(struct merge *m, const char *shard_arrays)
{
	sqlite3_stmt *sel = NULL, *ins = NULL, *get = NULL, *map = NULL;
	int rc, s;
	char src[4096], dst[4096];
	if ((rc = aed_db_prepare(m->db, "SELECT f.id, f.kind, f.path, f.committed_bytes, r.dst "
					"FROM shard.array_file f LEFT JOIN temp.m_run r ON r.src = "
					"f.run_id ORDER BY f.id", &sel)) ||
	    (rc = aed_db_prepare(m->db, "INSERT INTO main.array_file(kind, path, run_id, "
					"committed_bytes) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(path) DO "
					"UPDATE SET committed_bytes = excluded.committed_bytes WHERE "
					"excluded.committed_bytes > array_file.committed_bytes", &ins)) ||
	    (rc = aed_db_prepare(m->db, "SELECT id, committed_bytes FROM main.array_file "
					"WHERE path = ?", &get)) ||
	    (rc = aed_db_prepare(m->db, "INSERT INTO temp.m_file VALUES(?, ?)", &map)))
		goto out;
	while ((s = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0), bytes = sqlite3_column_int64(sel, 3);
		const char *kind = (const char *)sqlite3_column_text(sel, 1);
		const char *path = (const char *)sqlite3_column_text(sel, 2);
		int64_t have = -1, dst_id;
		file_path(src, sizeof src, shard_arrays, path);
		/* The corpus will read this file: it must hold what the shard committed. */
		struct stat sb;
		if (stat(src, &sb) != 0) {
			rc = aed_error(AED_EIO, "%s: the shard's array file: %s", src, strerror(errno));
			goto out;
		}
		if ((int64_t)sb.st_size < bytes) {
			rc = aed_error(AED_EIO, "%s: the shard's array file holds %lld bytes, the shard "
				       "committed %lld", src, (long long)sb.st_size, (long long)bytes);
			goto out;
		}
		if (m->o->copy) {
			const char *base = strrchr(path, '/');
			snprintf(dst, sizeof dst, "%s/%lld-%s", kind,
				 (long long)sqlite3_column_int64(sel, 4), base ? base + 1 : path);
		} else {
			snprintf(dst, sizeof dst, "%s", src);
		}
		sqlite3_bind_text(get, 1, dst, -1, SQLITE_STATIC);
		if ((s = sqlite3_step(get)) == SQLITE_ROW)
			have = sqlite3_column_int64(get, 1);
		sqlite3_reset(get);
		if (m->o->copy && have < bytes) {
			char full[8192], dir[4096];
			snprintf(dir, sizeof dir, "%s/%s", aed_db_array_dir(m->db), kind);
			snprintf(full, sizeof full, "%s/%s", aed_db_array_dir(m->db), dst);
			if ((rc = aed_mkdir_p(dir)) || (rc = copy_file(src, full, bytes)))
				goto out;
		}
		sqlite3_bind_text(ins, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, dst, -1, SQLITE_STATIC);
		if (sqlite3_column_type(sel, 4) == SQLITE_NULL)
			sqlite3_bind_null(ins, 3);
		else
			sqlite3_bind_int64(ins, 3, sqlite3_column_int64(sel, 4));
		sqlite3_bind_int64(ins, 4, bytes);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			rc = aed_db_error(m->db, "merging array files");
			goto out;
		}
		m->cur->n_new += sqlite3_changes64(aed_db_sqlite(m->db));
		sqlite3_reset(ins);
		sqlite3_bind_text(get, 1, dst, -1, SQLITE_STATIC);
		if (sqlite3_step(get) != SQLITE_ROW) {
			rc = aed_db_error(m->db, "array file row");
			goto out;
		}
		dst_id = sqlite3_column_int64(get, 0);
		sqlite3_reset(get);
		sqlite3_bind_int64(map, 1, id);
		sqlite3_bind_int64(map, 2, dst_id);
		if (sqlite3_step(map) != SQLITE_DONE) {
			rc = aed_db_error(m->db, "array file map");
			goto out;
		}
		sqlite3_reset(map);
	}
	if (s != SQLITE_DONE)
		rc = aed_db_error(m->db, "reading the shard's array files");
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sqlite3_finalize(get);
	sqlite3_finalize(map);
	return rc;
}

/* An array the corpus has already for a segment must hold the same bytes as
 * the shard's (unless it is the very same extent of the same file). */
static int array_conflicts(struct merge *m, const char *shard_arrays)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(
		m->db,
		"SELECT s.key, x.kind, cf.path, c.offset, c.nbytes, c.dtype, c.dim0, c.dim1, c.dim2, "
		"xf.path, x.offset, x.nbytes, x.dtype, x.dim0, x.dim1, x.dim2 FROM shard.array_ref x "
		"JOIN temp.m_seg ms ON ms.src = x.item JOIN main.array_ref c ON c.kind = x.kind AND "
		"c.item = ms.dst JOIN temp.m_file mf ON mf.src = x.file_id JOIN main.array_file cf "
		"ON cf.id = c.file_id JOIN shard.array_file xf ON xf.id = x.file_id "
		"JOIN shard.segment s ON s.id = x.item "
		"WHERE NOT (c.file_id = mf.dst AND c.offset = x.offset AND c.nbytes = x.nbytes)", &st);
	int s;
	if (rc)
		return rc;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		char what[256], a[4096], b[4096];
		int same = 1;
		for (int i = 0; i < 5 && same; i++)
			same = !strcmp((const char *)sqlite3_column_text(st, 4 + i),
				       (const char *)sqlite3_column_text(st, 11 + i));
		if (same) {
			unsigned char *x = NULL, *y = NULL;
			int64_t nb = sqlite3_column_int64(st, 4);
			file_path(a, sizeof a, aed_db_array_dir(m->db),
				  (const char *)sqlite3_column_text(st, 2));
			file_path(b, sizeof b, shard_arrays, (const char *)sqlite3_column_text(st, 9));
			if (!(rc = read_at(a, sqlite3_column_int64(st, 3), nb, &x)) &&
			    !(rc = read_at(b, sqlite3_column_int64(st, 10), nb, &y)))
				same = !memcmp(x, y, (size_t)nb);
			if (!rc && !same) {
				char hx[65], hy[65];
				aed_sha256_hex(x, (size_t)nb, hx);
				aed_sha256_hex(y, (size_t)nb, hy);
				snprintf(what, sizeof what, "%s array differs (sha256 %.16s... here, "
					 "%.16s... in the shard)", kind, hx, hy);
			}
			free(x);
			free(y);
		} else {
			snprintf(what, sizeof what, "%s array differs in shape or type", kind);
		}
		if (!rc && !same)
			rc = add_conflict(m, key, what);
	}
	if (!rc && s != SQLITE_DONE)
		rc = aed_db_error(m->db, "checking arrays");
	sqlite3_finalize(st);
	return rc;
}

static int count_skipped(struct merge *m)
{
	char sql[128], part[96];
	size_t len = 0;
	for (size_t i = 0; i < sizeof corpus_tables / sizeof *corpus_tables; i++) {
		int64_t n;
		snprintf(sql, sizeof sql, "SELECT count(*) FROM shard.%s", corpus_tables[i]);
		int rc = aed_db_int(m->db, sql, &n);
		if (rc)
			return rc;
		if (!n)
			continue;
		m->cur->n_skipped += n;
		int k = snprintf(part, sizeof part, "%s%s %lld", len ? ", " : "", corpus_tables[i],
				 (long long)n);
		char *p = realloc(m->cur->skipped, len + (size_t)k + 1);
		if (!p)
			return aed_error(AED_ENOMEM, "out of memory");
		memcpy(p + len, part, (size_t)k + 1);
		m->cur->skipped = p;
		len += (size_t)k;
	}
	return AED_OK;
}

/* Test hook: AEDCURATE_MERGE_STALL="N:FILE" makes the merge of the N-th
 * shard (1-based) create FILE and wait, its transaction open, to be killed. */
static void stall_hook(size_t index)
{
	const char *e = getenv("AEDCURATE_MERGE_STALL");
	char *colon;
	if (!e || strtoul(e, &colon, 10) != index + 1 || *colon != ':')
		return;
	FILE *f = fopen(colon + 1, "w");
	if (f)
		fclose(f);
	for (;;)
		pause();
}

/* Whether the shard's ingest tables hold exactly the corpus's rows (see
 * ingest_digest_sql). The corpus's digests are kept while no shard writes
 * those tables, that is while every shard merged so far was the same, and
 * no other process has committed to the corpus since. */
static int same_ingest(struct merge *m, int *same)
{
	unsigned char d[32];
	char sql[160];
	int64_t maps = 0, n_corpus = 0, version = 0;
	int rc = aed_db_int(m->db, "SELECT " SAME_CLASS_SPLIT_IDS, &maps);
	*same = 0;
	if (rc || !maps ||
	    (rc = aed_db_int(m->db, "SELECT count(*) FROM main.segment", &n_corpus)) ||
	    n_corpus != m->cur->n_segments ||
	    (rc = aed_db_int(m->db, "PRAGMA main.data_version", &version)))
		goto out;
	if (version != m->corpus_version)
		m->corpus_digest_ok = 0;
	m->corpus_version = version;
	for (size_t i = 0; i < N_INGEST_TABLES && !m->corpus_digest_ok; i++) {
		snprintf(sql, sizeof sql, ingest_digest_sql[i], "main");
		if ((rc = aed_db_digest(m->db, sql, m->corpus_digest[i])))
			goto out;
	}
	m->corpus_digest_ok = 1;
	for (size_t i = 0; i < N_INGEST_TABLES; i++) {
		snprintf(sql, sizeof sql, ingest_digest_sql[i], "shard");
		if ((rc = aed_db_digest(m->db, sql, d)))
			goto out;
		if (memcmp(d, m->corpus_digest[i], sizeof d))
			goto out;
	}
	*same = 1;
out:
	if (!*same)
		m->corpus_digest_ok = 0; /* this shard may write them */
	return rc;
}

static int merge_one(struct merge *m, size_t index)
{
	struct aed_merge_shard *sh = m->cur;
	char now[32], *arrays = NULL;
	sqlite3_stmt *st = NULL;
	int rc, attached = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (asprintf(&arrays, "%s.arrays", sh->path) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	if ((rc = aed_db_prepare(m->db, "ATTACH ? AS shard", &st)))
		goto out;
	sqlite3_bind_text(st, 1, sh->path, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(m->db, "attaching the shard");
		goto out;
	}
	attached = 1;
	if ((rc = aed_db_begin(m->db)) || (rc = aed_db_exec(m->db, maps_sql)) ||
	    (rc = aed_db_int(m->db, "SELECT count(*) FROM shard.segment", &sh->n_segments)) ||
	    (rc = aed_db_int(m->db, "SELECT count(*) FROM shard.array_ref", &sh->n_arrays)) ||
	    (rc = count_skipped(m)) || (rc = exec_list(m, sql_runs)) ||
	    (rc = conflicts_of(m, conflict_class_sql)) || (rc = exec_list(m, sql_classes)) ||
	    (rc = same_ingest(m, &sh->same_ingest)) ||
	    (rc = exec_list(m, sh->same_ingest ? sql_segments_same : sql_segments)))
		goto out;
	for (size_t i = 0; conflict_sql[i] && !rc; i++)
		rc = conflicts_of(m, conflict_sql[i]);
	if (rc || (rc = merge_files(m, arrays)) || (rc = array_conflicts(m, arrays)))
		goto out;
	if (sh->n_conflicts) {
		/* Nothing of a conflicting shard stays, not even its new segments. */
		aed_db_rollback(m->db);
		sh->outcome = AED_MERGE_CONFLICT;
		goto out;
	}
	int64_t same_ids = 0;
	if ((!sh->same_ingest &&
	     ((rc = aed_db_int(m->db, same_ids_sql, &same_ids)) ||
	      (rc = exec_list(m, same_ids ? sql_labels_same_ids : sql_labels)))) ||
	    (rc = exec_list(m, sql_rows)))
		goto out;
	sh->outcome = sh->n_new ? AED_MERGE_MERGED : AED_MERGE_UNCHANGED;
	if (sh->n_new) {
		sqlite3_finalize(st);
		if ((rc = aed_db_prepare(m->db, "INSERT INTO main.merge_shard(path, n_segments, n_new, "
						"merged_at) VALUES(?, ?, ?, ?) ON CONFLICT(path) DO UPDATE "
						"SET n_segments = excluded.n_segments, n_new = excluded.n_new, "
						"merged_at = excluded.merged_at", &st)))
			goto out;
		aed_utc_iso8601(now);
		sqlite3_bind_text(st, 1, sh->path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, sh->n_segments);
		sqlite3_bind_int64(st, 3, sh->n_new);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(m->db, "recording the merge");
			goto out;
		}
		stall_hook(index);
		rc = aed_db_commit(m->db);
	} else {
		/* A shard merged before: write nothing at all. */
		aed_db_rollback(m->db);
	}
out:
	sqlite3_finalize(st);
	if (rc)
		aed_db_rollback(m->db);
	if (attached)
		aed_db_exec(m->db, "DETACH shard");
	free(arrays);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sh->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	if (rc)
		aed_error_prefix(rc, "merging %s", sh->path);
	return rc;
}

/* Read-only look at a shard before anything is written: schema version,
 * models, live runs. */
static int check_shard(const char *path, char **models, size_t *n_models)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int rc = AED_OK, s;
	int64_t ver = -1;
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = aed_error(AED_EDB, "%s: %s", path, h ? sqlite3_errmsg(h) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(h, 60000);
	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		ver = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (ver != aed_db_schema_version()) {
		rc = aed_error(AED_ESTATE, "%s: schema version %lld, the corpus's is %d "
			       "(a shard made by another aedcurate version, or not an aedcurate "
			       "database; `aedcurate init --db SHARD` migrates an older one)",
			       path, (long long)ver, aed_db_schema_version());
		goto out;
	}
	if (sqlite3_prepare_v2(h, "SELECT sha256 FROM model ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		rc = aed_error(AED_EDB, "%s: %s", path, sqlite3_errmsg(h));
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(st, 0);
		size_t i = 0;
		while (i < *n_models && strcmp(models[i], sha))
			i++;
		if (i < *n_models)
			continue;
		if (*n_models) {
			rc = aed_error(AED_ESTATE, "%s: made with another model file (sha256 "
				       "%s; the corpus's embeddings are from %s)", path, sha, models[0]);
			goto out;
		}
		/* The first shard with a model sets the corpus's: take all its models. */
		do {
			if (!(models[*n_models] = strdup((const char *)sqlite3_column_text(st, 0)))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			++*n_models;
		} while (*n_models < MAX_MODELS && (s = sqlite3_step(st)) == SQLITE_ROW);
		break;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(h, "SELECT id, host, pid, pid_start FROM run WHERE outcome = "
				  "'running'", -1, &st, NULL) != SQLITE_OK) {
		rc = aed_error(AED_EDB, "%s: %s", path, sqlite3_errmsg(h));
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		if (aed_run_alive((const char *)sqlite3_column_text(st, 1),
				  sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)) == 1) {
			rc = aed_error(AED_ESTATE, "%s: run %lld (pid %lld) is still writing "
				       "this shard", path, (long long)sqlite3_column_int64(st, 0),
				       (long long)sqlite3_column_int64(st, 2));
			goto out;
		}
out:
	sqlite3_finalize(st);
	sqlite3_close_v2(h);
	return rc;
}

int aed_merge(struct aed_db *db, const struct aed_merge_opts *o, struct aed_merge_result *res)
{
	struct merge m = { .db = db, .o = o, .res = res, .max_listed = o->max_listed ? o->max_listed : AED_MERGE_MAX_LISTED_DEFAULT };
	char *models[MAX_MODELS] = { 0 }, *corpus = NULL;
	size_t n_models = 0;
	sqlite3_stmt *st = NULL;
	int rc = AED_OK;
	memset(res, 0, sizeof *res);
	res->shards = calloc(o->n_shards ? o->n_shards : 1, sizeof *res->shards);
	if (!res->shards)
		return aed_error(AED_ENOMEM, "out of memory");
	corpus = realpath(aed_db_path(db), NULL);
	if ((rc = aed_db_prepare(db, "SELECT sha256 FROM model ORDER BY id", &st)))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW && n_models < MAX_MODELS)
		if (!(models[n_models++] = strdup((const char *)sqlite3_column_text(st, 0)))) {
			n_models--;
			rc = aed_error(AED_ENOMEM, "out of memory");
			break;
		}
	sqlite3_finalize(st);
	if (rc)
		goto out;
	/* Every shard is checked before the first is merged: a refusal leaves
	 * the corpus as it was. */
	for (size_t i = 0; i < o->n_shards; i++) {
		struct aed_merge_shard *sh = &res->shards[i];
		res->n_shards = i + 1;
		sh->path = realpath(o->shards[i], NULL);
		if (!sh->path) {
			rc = aed_error(AED_ENOTFOUND, "%s: %s", o->shards[i], strerror(errno));
			goto out;
		}
		if (corpus && !strcmp(corpus, sh->path)) {
			rc = aed_error(AED_ESTATE, "%s: that is the corpus itself", o->shards[i]);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(res->shards[j].path, sh->path)) {
				rc = aed_error(AED_EUSAGE, "%s: named twice", o->shards[i]);
				goto out;
			}
		if ((rc = check_shard(sh->path, models, &n_models)))
			goto out;
	}
	for (size_t i = 0; i < o->n_shards && !rc; i++) {
		m.cur = &res->shards[i];
		rc = merge_one(&m, i);
		if (!rc)
			aed_info("merge: %s: %s (%lld segments, %lld rows new) in %.2f s", m.cur->path,
				 m.cur->outcome == AED_MERGE_CONFLICT ? "conflicts, not merged"
				 : m.cur->outcome == AED_MERGE_MERGED ? "merged" : "unchanged",
				 (long long)m.cur->n_segments, (long long)m.cur->n_new, m.cur->seconds);
	}
	if (!rc && res->n_conflicts)
		rc = aed_error(AED_ESTATE, "%lld conflict%s: a segment with different results in two "
			       "databases; the shards that brought them were not merged",
			       (long long)res->n_conflicts, res->n_conflicts == 1 ? "" : "s");
out:
	for (size_t i = 0; i < n_models; i++)
		free(models[i]);
	free(corpus);
	return rc;
}

void aed_merge_result_release(struct aed_merge_result *res)
{
	for (size_t i = 0; i < res->n_shards; i++) {
		free(res->shards[i].path);
		free(res->shards[i].skipped);
	}
	free(res->shards);
	for (size_t i = 0; i < res->n_listed; i++)
		free(res->conflicts[i]);
	free(res->conflicts);
	memset(res, 0, sizeof *res);
}
