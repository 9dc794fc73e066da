-- 0011_refine_fine.sql - refinement finer than a patch (`refine --method
-- consensus`): per (segment, class) masks at log-mel frame resolution.
-- BLOB layout in include/aedcurate/refine.h. IF NOT EXISTS: stores made while
-- this file was numbered 0009 already hold the table.

-- Frames of a labelled segment in the event; mask = n_frames bytes, 1 = in it.
CREATE TABLE IF NOT EXISTS frame_mask_fine (
	segment_id INTEGER NOT NULL REFERENCES segment(id) ON DELETE CASCADE,
	class_id   INTEGER NOT NULL REFERENCES class(id) ON DELETE CASCADE,
	method     TEXT NOT NULL,           -- consensus
	run_id     INTEGER REFERENCES run(id),
	scorer     TEXT NOT NULL,           -- yamnet | trained
	frame_ms   INTEGER NOT NULL,        -- 10: frame f covers [f*10, f*10 + 10) ms
	hop_frames INTEGER NOT NULL,        -- fine patch hop, in frames
	n_frames   INTEGER NOT NULL,
	n_kept     INTEGER NOT NULL,
	mask       BLOB NOT NULL,
	PRIMARY KEY (segment_id, class_id, method)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frame_mask_fine_class ON frame_mask_fine(class_id, method);
