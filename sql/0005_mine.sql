-- 0005_mine.sql - the vector index over patch embeddings (`index build`) and
-- exemplar-mining runs with their ranked candidates, the review queue
-- (`mine`). The FAISS index itself is a file beside the database; these
-- tables say what it holds.

-- One row per index file. The index holds the L2-normalised "embedding"
-- patch vectors of one model, searched by inner product (cosine).
CREATE TABLE vec_index (
	id           INTEGER PRIMARY KEY,
	path         TEXT NOT NULL,           -- the FAISS index file (absolute)
	factory      TEXT NOT NULL,           -- FAISS index_factory string: "Flat", "IVF1024,Flat"
	model_sha256 TEXT NOT NULL,           -- sha256 of the model file the embeddings came from
	model_name   TEXT,                    -- its name ("yamnet")
	dim          INTEGER NOT NULL,        -- vector dimension (1024 for YAMNet)
	n_vectors    INTEGER NOT NULL,        -- vectors in the file (= its ntotal)
	n_segments   INTEGER NOT NULL DEFAULT 0,
	nprobe       INTEGER,                 -- inverted lists searched per query (IVF only)
	created_at   TEXT,                    -- ISO 8601 UTC
	updated_at   TEXT,                    -- last incremental add
	run_id       INTEGER REFERENCES run(id) -- the run that last wrote it
);

-- Vector id -> (segment, patch). Patch p starts at p * 0.48 s into the clip.
CREATE TABLE vec_map (
	index_id   INTEGER NOT NULL REFERENCES vec_index(id) ON DELETE CASCADE,
	vec_id     INTEGER NOT NULL,          -- FAISS id, 0 .. n_vectors-1
	segment_id INTEGER NOT NULL,
	patch      INTEGER NOT NULL,
	PRIMARY KEY (index_id, vec_id)
) WITHOUT ROWID;

-- Which embedding array of each segment the index holds: a segment whose
-- array_ref('embedding').run_id no longer matches was re-embedded after the
-- index was built, and the index is stale.
CREATE TABLE vec_segment (
	index_id     INTEGER NOT NULL REFERENCES vec_index(id) ON DELETE CASCADE,
	segment_id   INTEGER NOT NULL,
	array_run_id INTEGER,                 -- array_ref.run_id of its embedding
	first_vec    INTEGER NOT NULL,        -- vec_id of patch 0
	n_patches    INTEGER NOT NULL,
	PRIMARY KEY (index_id, segment_id)
) WITHOUT ROWID;

-- One row per `mine` invocation.
CREATE TABLE mine_run (
	id           INTEGER PRIMARY KEY,
	run_id       INTEGER REFERENCES run(id),
	class_id     INTEGER REFERENCES class(id),
	method       TEXT NOT NULL,           -- 'exemplar' | 'mean'
	params       TEXT NOT NULL,           -- JSON: k, clusters, min_exemplars, score, ...
	index_id     INTEGER,                 -- vec_index.id searched
	model_sha256 TEXT,
	n_exemplars  INTEGER,
	n_kept_frames INTEGER,                -- exemplar frames used as queries
	n_candidates INTEGER,                 -- rows written to candidate
	created_at   TEXT NOT NULL            -- ISO 8601 UTC
);
CREATE INDEX mine_run_class ON mine_run(class_id, id);

-- The exemplars a run used. segment_id NULL for a file outside the corpus.
CREATE TABLE mine_exemplar (
	mine_run_id  INTEGER NOT NULL REFERENCES mine_run(id) ON DELETE CASCADE,
	segment_id   INTEGER,
	source       TEXT NOT NULL,           -- ontology | verified | user | file
	path         TEXT,                    -- the file, for source 'file'
	frames_kept  INTEGER,
	frames_total INTEGER,
	frames       TEXT                     -- JSON [{"patch":0,"t":0.0,"cluster":2,"kept":true}, ...]
);
CREATE INDEX mine_exemplar_run ON mine_exemplar(mine_run_id);

-- The review queue: ranked candidates of a run.
CREATE TABLE candidate (
	mine_run_id INTEGER NOT NULL REFERENCES mine_run(id) ON DELETE CASCADE,
	segment_id  INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	rank        INTEGER NOT NULL,         -- 1 = best
	score       REAL NOT NULL,            -- the best frame's score (method-specific scale)
	best_time_s REAL NOT NULL,            -- start of the best patch, seconds into the clip
	PRIMARY KEY (mine_run_id, segment_id)
) WITHOUT ROWID;
CREATE INDEX candidate_rank ON candidate(mine_run_id, rank);
