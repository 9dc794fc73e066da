-- 0006_review.sql - human review of mined candidates (`review export`,
-- `review import`): which candidates went into which exported page, the
-- annotators' ratings that came back, and the decision derived from them.
-- Verified positives also become label rows (source 'verified'), which the
-- next `mine` round takes as exemplars; verified negatives are the
-- hard_negative view.

-- One row per `review export`. export_id and checksum are written into the
-- page's data and come back in every ratings file it exports.
CREATE TABLE review_export (
	id           INTEGER PRIMARY KEY,
	export_id    TEXT NOT NULL UNIQUE,    -- 32 hex digits, random
	mine_run_id  INTEGER NOT NULL REFERENCES mine_run(id),
	class_id     INTEGER NOT NULL REFERENCES class(id), -- the class judged
	checksum     TEXT NOT NULL,           -- sha256 hex of the candidate set (review.h)
	n_candidates INTEGER NOT NULL,
	out_dir      TEXT NOT NULL,           -- folder written, as given
	run_id       INTEGER REFERENCES run(id),
	created_at   TEXT NOT NULL            -- ISO 8601 UTC
);

-- The candidates of an export, in page order.
CREATE TABLE review_item (
	export_id  INTEGER NOT NULL REFERENCES review_export(id) ON DELETE CASCADE,
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	ord        INTEGER NOT NULL,          -- 0-based position on the page
	PRIMARY KEY (export_id, segment_id)
) WITHOUT ROWID;

-- One row per imported ratings file that brought at least one good entry,
-- or was imported again (the import log).
CREATE TABLE review_import (
	id          INTEGER PRIMARY KEY,
	export_id   INTEGER NOT NULL REFERENCES review_export(id),
	path        TEXT NOT NULL,            -- as given
	sha256      TEXT NOT NULL,            -- of the file's bytes
	annotator   TEXT NOT NULL,
	n_entries   INTEGER NOT NULL,         -- entries in the file
	n_new       INTEGER NOT NULL,         -- ratings stored for the first time
	n_updated   INTEGER NOT NULL,         -- newer answers replacing stored ones
	n_same      INTEGER NOT NULL,         -- already stored, unchanged
	n_bad       INTEGER NOT NULL,         -- rejected entries
	run_id      INTEGER REFERENCES run(id),
	imported_at TEXT NOT NULL             -- ISO 8601 UTC
);

-- One rating per (class, segment, annotator): an annotator who rates the
-- same candidate again (a later export of the page, another export of the
-- same class) replaces the answer when the new rating is newer.
CREATE TABLE rating (
	id         INTEGER PRIMARY KEY,
	class_id   INTEGER NOT NULL REFERENCES class(id),
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	annotator  TEXT NOT NULL,
	answer     TEXT NOT NULL CHECK (answer IN ('present', 'not_present', 'unsure',
	                                           'not_acoustic')),
	comment    TEXT NOT NULL DEFAULT '',
	rated_at   TEXT NOT NULL,             -- ISO 8601 UTC, from the page
	export_id  INTEGER NOT NULL REFERENCES review_export(id),
	import_id  INTEGER REFERENCES review_import(id), -- the import that last set it
	UNIQUE (class_id, segment_id, annotator)
);
CREATE INDEX rating_segment ON rating(segment_id);

-- "Add missing labels": classes an annotator heard besides the one judged.
CREATE TABLE rating_label (
	rating_id INTEGER NOT NULL REFERENCES rating(id) ON DELETE CASCADE,
	class_id  INTEGER NOT NULL REFERENCES class(id),
	PRIMARY KEY (rating_id, class_id)
) WITHOUT ROWID;

-- The decision over all annotators of a (class, segment): the majority
-- answer, a tie between the top answers -> 'unsure'. agreement is the
-- share of ratings that gave the most frequent answer (1.0 for one rater,
-- 0.5 for a tie of two).
CREATE TABLE review_decision (
	class_id       INTEGER NOT NULL REFERENCES class(id),
	segment_id     INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	decision       TEXT NOT NULL,         -- present | not_present | unsure | not_acoustic
	n_ratings      INTEGER NOT NULL,
	n_present      INTEGER NOT NULL,
	n_not_present  INTEGER NOT NULL,
	n_unsure       INTEGER NOT NULL,
	n_not_acoustic INTEGER NOT NULL,
	agreement      REAL NOT NULL,         -- 0..1
	updated_at     TEXT NOT NULL,
	PRIMARY KEY (class_id, segment_id)
) WITHOUT ROWID;

-- Verified negatives: candidates the annotators decided do not contain the
-- class. Kept apart from labels so that training and mining can use them as
-- hard negatives.
CREATE VIEW hard_negative AS
	SELECT class_id, segment_id, n_ratings, agreement FROM review_decision
	WHERE decision = 'not_present';
