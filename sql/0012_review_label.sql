-- 0012_review_label.sql - labels annotators add on the review page ("Add
-- missing labels") are labels of the clip: a label row with source 'review'
-- for every (segment, class) some rating names, kept in step by
-- `review import`. Which annotators added it, and when, is the review_label
-- view over rating_label. (Label sources by now: weak, manifest, strong,
-- verified, review, and ontology for `segments ingest --ontology-examples`.)
-- IF NOT EXISTS / OR IGNORE: safe to apply again should this file be
-- renumbered.
CREATE VIEW IF NOT EXISTS review_label AS
	SELECT r.segment_id, rl.class_id, r.annotator, r.rated_at, r.class_id AS judged_class_id,
	       r.id AS rating_id
	FROM rating_label rl JOIN rating r ON r.id = rl.rating_id;

-- Ratings imported before this migration: their added labels become labels,
-- except a label of the class judged in a Not present rating (a
-- contradiction that import now refuses).
INSERT OR IGNORE INTO label(segment_id, class_id, source)
	SELECT DISTINCT segment_id, class_id, 'review' FROM review_label
	WHERE NOT (class_id = judged_class_id AND
	           (SELECT answer FROM rating WHERE id = rating_id) = 'not_present');
