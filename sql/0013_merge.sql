-- 0013_merge.sql - shard databases merged into this one (`merge`, see
-- include/aedcurate/merge.h). A merged run keeps its shard's row as it was
-- (stage, times, host, pid) and says where it came from; the merged arrays
-- stay in the shard's files, which array_file.path then names by an absolute
-- path (a relative path is under this database's <db>.arrays/).

-- The shard database (absolute path) a run was merged from and its id there;
-- NULL for a run made on this database.
ALTER TABLE run ADD COLUMN shard_db TEXT;
ALTER TABLE run ADD COLUMN shard_run_id INTEGER;
-- A run is the same run in every database that holds it (a shard made from a
-- copy of another database) when the same process made it.
CREATE INDEX run_process ON run(pid, pid_start);

-- One row per shard database merged in, written in the transaction that
-- merges it: a shard with no row here was not merged (a killed merge).
CREATE TABLE merge_shard (
	id          INTEGER PRIMARY KEY,
	path        TEXT NOT NULL UNIQUE,     -- absolute path of the shard database
	n_segments  INTEGER NOT NULL,         -- segments in the shard
	n_new       INTEGER NOT NULL,         -- rows this merge added or changed
	merged_at   TEXT NOT NULL             -- ISO 8601 UTC of its last merge that changed something
);
