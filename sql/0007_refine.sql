-- 0007_refine.sql - class priors and positive weights (written by `priors`),
-- and weak-label refinement (written by `refine`): per (segment, class) frame
-- scores and kept masks, per-class refinement summaries, SeCoST soft labels.
-- BLOB layouts are in include/aedcurate/refine.h.

-- The latest priors run: one row per class.
CREATE TABLE class_prior (
	class_id INTEGER PRIMARY KEY REFERENCES class(id) ON DELETE CASCADE,
	run_id   INTEGER REFERENCES run(id),
	n_pos    INTEGER NOT NULL,          -- segments carrying the class or a descendant
	n_total  INTEGER NOT NULL,          -- labelled segments counted
	prior    REAL NOT NULL,             -- n_pos / n_total
	weight   REAL NOT NULL,             -- (mean prior / prior)^beta; 0 if prior is 0
	beta     REAL NOT NULL
);

-- What one refine run did for one class.
CREATE TABLE refine_class (
	run_id       INTEGER NOT NULL REFERENCES run(id),
	class_id     INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	method       TEXT NOT NULL,         -- maxnorm | hysteresis (besides maxnorm)
	scorer       TEXT NOT NULL,         -- yamnet | trained
	n_segments   INTEGER NOT NULL,      -- labelled segments refined
	n_patches    INTEGER NOT NULL,      -- their patches
	n_kept       INTEGER NOT NULL,      -- patches kept by `method`
	n_kept_maxnorm INTEGER NOT NULL,    -- patches kept by the plain rule
	gain         REAL,                  -- prevalence gain (NULL: not checked)
	top_class_id INTEGER REFERENCES class(id), -- class with the largest gain
	warning      TEXT,                  -- why the method's assumption may fail
	PRIMARY KEY (run_id, class_id)
) WITHOUT ROWID;

-- P(L|x_i) per patch; scores = n_patches little-endian float32.
CREATE TABLE frame_score (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	class_id   INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	scorer     TEXT NOT NULL,           -- yamnet | trained
	run_id     INTEGER REFERENCES run(id),
	n_patches  INTEGER NOT NULL,
	hop_ms     INTEGER NOT NULL,        -- 480: patch i starts at i * hop_ms
	scores     BLOB NOT NULL,
	PRIMARY KEY (segment_id, class_id, scorer)
) WITHOUT ROWID;
CREATE INDEX frame_score_class ON frame_score(class_id, scorer);

-- Kept patches of a labelled segment; mask = n_patches bytes, 1 = kept.
CREATE TABLE frame_mask (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	class_id   INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	method     TEXT NOT NULL,           -- maxnorm | hysteresis
	run_id     INTEGER REFERENCES run(id),
	scorer     TEXT NOT NULL,
	n_patches  INTEGER NOT NULL,
	hop_ms     INTEGER NOT NULL,
	n_kept     INTEGER NOT NULL,
	mask       BLOB NOT NULL,
	PRIMARY KEY (segment_id, class_id, method)
) WITHOUT ROWID;
CREATE INDEX frame_mask_class ON frame_mask(class_id, method);

-- SeCoST's final clip labels.
CREATE TABLE soft_label (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	class_id   INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	run_id     INTEGER REFERENCES run(id),
	stages     INTEGER NOT NULL,
	target     REAL NOT NULL,           -- alpha * y + (1 - alpha) * prediction
	prediction REAL NOT NULL,           -- last stage: max over patches
	PRIMARY KEY (segment_id, class_id)
) WITHOUT ROWID;
