-- 0008_export.sql - training-shard exports (written by `export`): one row per
-- export directory written, and which sample went to which split and shard,
-- so that a later export or an audit can ask where a segment went.
CREATE TABLE export (
	id          INTEGER PRIMARY KEY,
	run_id      INTEGER REFERENCES run(id),
	out_dir     TEXT NOT NULL,            -- absolute path as given
	format      TEXT NOT NULL,            -- webdataset | tfrecord
	params      TEXT NOT NULL,            -- JSON: balance, splits, seed, payload, ...
	n_samples   INTEGER NOT NULL,         -- real and augmented
	n_augmented INTEGER NOT NULL,
	n_shards    INTEGER NOT NULL,
	index_sha256 TEXT NOT NULL,           -- of the export's index.json
	created_at  TEXT NOT NULL             -- ISO 8601 UTC
);

-- One row per exported sample. segment_id is NULL for a mix (--mix-augment);
-- its two sources are in mix_a / mix_b.
CREATE TABLE export_sample (
	export_id  INTEGER NOT NULL REFERENCES export(id) ON DELETE CASCADE,
	key        TEXT NOT NULL,             -- sample key in the shards
	segment_id INTEGER REFERENCES segment(id) ON DELETE SET NULL,
	split      TEXT NOT NULL,
	shard      INTEGER NOT NULL,          -- index within the split
	position   INTEGER NOT NULL,          -- sample index within the shard
	mix_a      INTEGER REFERENCES segment(id) ON DELETE SET NULL,
	mix_b      INTEGER REFERENCES segment(id) ON DELETE SET NULL,
	PRIMARY KEY (export_id, key)
) WITHOUT ROWID;
CREATE INDEX export_sample_segment ON export_sample(segment_id);
