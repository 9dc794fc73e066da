-- 0014_stage_input.sql - what each per-segment stage reads and writes, so
-- that a stage which writes an array again (or removes it) can tell the
-- stages after it without knowing them: aed_work_input_changed() in
-- src/store/run.c forgets their work for that segment (their next run does
-- it again from the new input) and, when the input is gone, removes what
-- they made of it. A new per-segment stage adds its rows here.

-- Stage (work.stage) reads arrays of kind (array_ref.kind).
CREATE TABLE stage_input (
	stage TEXT NOT NULL,
	kind  TEXT NOT NULL,
	PRIMARY KEY (kind, stage)
) WITHOUT ROWID;

-- Stage writes arrays of kind, one per segment.
CREATE TABLE stage_output (
	stage TEXT NOT NULL,
	kind  TEXT NOT NULL,
	PRIMARY KEY (stage, kind)
) WITHOUT ROWID;

INSERT INTO stage_input(stage, kind) VALUES
	('features_yamnet', 'clip'),
	('features_vggish', 'clip'),
	('embed', 'logmel_yamnet');
INSERT INTO stage_output(stage, kind) VALUES
	('decode', 'clip'),
	('features_yamnet', 'logmel_yamnet'),
	('features_vggish', 'logmel_vggish'),
	('embed', 'embedding'),
	('embed', 'scores');

-- Until now embed found stale work itself, at its start: a log-mel stored
-- by a later run than the segment's embedding. Once more here, for the
-- log-mels a database holds from before these tables.
DELETE FROM work WHERE stage = 'embed' AND item IN (
	SELECT l.item FROM array_ref l JOIN array_ref e ON e.kind = 'embedding' AND e.item = l.item
	WHERE l.kind = 'logmel_yamnet' AND l.run_id > e.run_id);
