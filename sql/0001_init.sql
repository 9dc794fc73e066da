-- 0001_init.sql - the stage store: ontology, segments, labels, stage runs,
-- per-item work state and the index of the on-disk array store.
-- Migrations are applied in file-number order inside one transaction each;
-- PRAGMA user_version holds the number of the last one applied.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- Ontology ------------------------------------------------------------------
-- One row per ingest of an ontology file; classes carry the version that last
-- changed them.
CREATE TABLE ontology_version (
	id          INTEGER PRIMARY KEY,
	source      TEXT NOT NULL,            -- path or URL as given
	sha256      TEXT NOT NULL,            -- of the raw file
	n_classes   INTEGER NOT NULL,
	ingested_at TEXT NOT NULL             -- ISO 8601 UTC
);

CREATE TABLE class (
	id            INTEGER PRIMARY KEY,
	mid           TEXT NOT NULL UNIQUE,   -- "/m/012xff"
	name          TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	citation_uri  TEXT NOT NULL DEFAULT '',
	is_abstract   INTEGER NOT NULL DEFAULT 0,
	is_blacklist  INTEGER NOT NULL DEFAULT 0,
	label_index   INTEGER,                -- class_labels_indices index, if trainable
	version_id    INTEGER REFERENCES ontology_version(id)
);
CREATE INDEX class_name ON class(name COLLATE NOCASE);

-- The child_ids graph: a DAG, a class may have several parents.
CREATE TABLE class_edge (
	parent_id INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	child_id  INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	ord       INTEGER NOT NULL,           -- position in the parent's child_ids
	PRIMARY KEY (parent_id, child_id)
) WITHOUT ROWID;
CREATE INDEX class_edge_child ON class_edge(child_id);

-- Reflexive-transitive closure: (a, d) for every descendant d of a, (a, a) too.
CREATE TABLE class_closure (
	ancestor_id   INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	descendant_id INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	depth         INTEGER NOT NULL,       -- shortest path length, 0 for self
	PRIMARY KEY (ancestor_id, descendant_id)
) WITHOUT ROWID;
CREATE INDEX class_closure_desc ON class_closure(descendant_id);

-- positive_examples: "youtu.be/ID?start=S&end=E".
CREATE TABLE class_example (
	class_id INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	ytid     TEXT NOT NULL,
	start_ms INTEGER NOT NULL,
	end_ms   INTEGER NOT NULL,
	PRIMARY KEY (class_id, ytid, start_ms)
) WITHOUT ROWID;

-- Segments ------------------------------------------------------------------
-- A segment is a time range of a source: a YouTube video (ytid) or a user's
-- file (path). Its stable key "{ytid}_{start_ms}" names it everywhere (array
-- store, shards, other databases of a --shard split).
CREATE TABLE segment (
	id        INTEGER PRIMARY KEY,
	key       TEXT NOT NULL UNIQUE,       -- "{ytid}_{start_ms}"
	ytid      TEXT NOT NULL,              -- YouTube id, or the file's stem
	start_ms  INTEGER NOT NULL,
	end_ms    INTEGER,                    -- NULL: to the end of the file
	path      TEXT,                       -- manifest path, NULL for YouTube
	source_group TEXT NOT NULL,           -- source recording: ytid, or a manifest's
	                                      -- group column (e.g. Freesound id);
	                                      -- exports never split a group
	meta      TEXT,                       -- JSON of extra manifest columns, or NULL
	shard     INTEGER NOT NULL            -- aed_shard_hash(key), for --shard I/N
);
CREATE INDEX segment_ytid ON segment(ytid);

CREATE TABLE split (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

CREATE TABLE segment_split (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	split_id   INTEGER NOT NULL REFERENCES split(id) ON DELETE CASCADE,
	PRIMARY KEY (segment_id, split_id)
) WITHOUT ROWID;
CREATE INDEX segment_split_split ON segment_split(split_id);

-- Clip-level labels. source: 'weak' (segment lists), 'manifest', 'verified'
-- (annotators), 'strong' (derived from strong-label rows).
CREATE TABLE label (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	class_id   INTEGER NOT NULL REFERENCES class(id),
	source     TEXT NOT NULL,
	PRIMARY KEY (segment_id, class_id, source)
) WITHOUT ROWID;
CREATE INDEX label_class ON label(class_id);

-- Temporally strong labels (seconds relative to the segment start).
CREATE TABLE strong_label (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	class_id   INTEGER NOT NULL REFERENCES class(id),
	start_s    REAL NOT NULL,
	end_s      REAL NOT NULL,
	PRIMARY KEY (segment_id, class_id, start_s, end_s)
) WITHOUT ROWID;

-- One row per ingest of a segment list.
CREATE TABLE segment_source (
	id          INTEGER PRIMARY KEY,
	source      TEXT NOT NULL,
	format      TEXT NOT NULL,            -- 'csv', 'strong', 'manifest'
	split_id    INTEGER REFERENCES split(id),
	sha256      TEXT NOT NULL,
	n_rows      INTEGER NOT NULL,
	n_bad       INTEGER NOT NULL,
	ingested_at TEXT NOT NULL
);

-- Stages --------------------------------------------------------------------
-- Every execution of a stage is a run. A run whose process died (kill -9,
-- power loss) stays 'running' until the next run of any stage notices that
-- its pid is gone and marks it 'interrupted'.
CREATE TABLE run (
	id         INTEGER PRIMARY KEY,
	stage      TEXT NOT NULL,
	params     TEXT NOT NULL DEFAULT '{}',   -- JSON
	started_at TEXT NOT NULL,
	ended_at   TEXT,
	n_done     INTEGER NOT NULL DEFAULT 0,
	n_failed   INTEGER NOT NULL DEFAULT 0,
	outcome    TEXT NOT NULL DEFAULT 'running', -- running ok failed interrupted
	message    TEXT,
	host       TEXT NOT NULL,
	pid        INTEGER NOT NULL,
	pid_start  INTEGER NOT NULL              -- process start time, guards pid reuse
);
CREATE INDEX run_stage ON run(stage, id);

-- Per-item state of each stage. item is a segment id for segment stages.
-- A claim belongs to a run; claims of dead runs go back to 'pending'.
CREATE TABLE work (
	stage      TEXT NOT NULL,
	item       INTEGER NOT NULL,
	state      TEXT NOT NULL DEFAULT 'pending', -- pending claimed done failed
	attempts   INTEGER NOT NULL DEFAULT 0,
	run_id     INTEGER,                         -- last run that claimed it
	error      TEXT,
	updated_at TEXT,
	PRIMARY KEY (stage, item)
) WITHOUT ROWID;
CREATE INDEX work_state ON work(stage, state);

-- Array store ---------------------------------------------------------------
-- Bulk arrays live in append-only files under <db>.arrays/; SQLite records
-- which bytes of which file are committed. A writer truncates its file back
-- to committed_bytes when it opens it, so bytes appended by a process that
-- died before its commit are discarded.
CREATE TABLE array_file (
	id              INTEGER PRIMARY KEY,
	kind            TEXT NOT NULL,        -- 'clip', 'logmel', 'embedding', ...
	path            TEXT NOT NULL UNIQUE, -- relative to the array directory
	run_id          INTEGER REFERENCES run(id), -- the run that writes it
	committed_bytes INTEGER NOT NULL DEFAULT 0
);

-- One array per (kind, item): where its bytes are and what shape they have.
CREATE TABLE array_ref (
	kind     TEXT NOT NULL,
	item     INTEGER NOT NULL,            -- segment id
	file_id  INTEGER NOT NULL REFERENCES array_file(id),
	offset   INTEGER NOT NULL,            -- bytes
	nbytes   INTEGER NOT NULL,
	dtype    TEXT NOT NULL,               -- 'f32', 'i16', 'u8'
	dim0     INTEGER NOT NULL,
	dim1     INTEGER NOT NULL DEFAULT 1,
	dim2     INTEGER NOT NULL DEFAULT 1,
	run_id   INTEGER REFERENCES run(id),
	PRIMARY KEY (kind, item)
) WITHOUT ROWID;

-- Pipelines -----------------------------------------------------------------
-- A pipeline step is skipped on rerun when the same command text already
-- finished ok for the same pipeline file.
CREATE TABLE pipeline_step (
	pipeline    TEXT NOT NULL,            -- pipeline name from its file
	step        TEXT NOT NULL,
	command     TEXT NOT NULL,            -- the expanded command line
	run_id      INTEGER REFERENCES run(id),
	finished_at TEXT NOT NULL,
	PRIMARY KEY (pipeline, step)
) WITHOUT ROWID;
