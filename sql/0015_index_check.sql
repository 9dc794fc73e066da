-- 0015_index_check.sql - what lets `mine` open an index over millions of
-- segments without reading them all: a counter that moves with every write
-- to what an index is built and searched from (an embedding written,
-- rewritten or removed: embed, a re-embed, merge, a removal; a segment's
-- recording changed), and in vec_index the value it had when `index build`
-- last checked the index against the embeddings. While the two agree,
-- nothing has changed since: the pending count is the one recorded, no
-- segment the index holds was re-embedded or removed, and the segment map
-- kept beside the index file is current (aed_index_status and
-- aed_index_open in src/stage/index.c). When they differ, the checks read
-- the tables again.

CREATE TABLE index_epoch (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
);
INSERT INTO index_epoch(id, value) VALUES (1, 0);

CREATE TRIGGER index_epoch_embedding_insert AFTER INSERT ON embedding
BEGIN
	UPDATE index_epoch SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER index_epoch_embedding_update AFTER UPDATE ON embedding
BEGIN
	UPDATE index_epoch SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER index_epoch_embedding_delete AFTER DELETE ON embedding
BEGIN
	UPDATE index_epoch SET value = value + 1 WHERE id = 1;
END;
-- `mine --exclude-group` finds an exemplar's recording through that map.
CREATE TRIGGER index_epoch_segment_group AFTER UPDATE OF source_group ON segment
BEGIN
	UPDATE index_epoch SET value = value + 1 WHERE id = 1;
END;

-- index_epoch.value when index build found the index current (NULL: never,
-- or it was stale then), and the embedded segments it did not hold then
-- (embeddings of no patch are never added).
ALTER TABLE vec_index ADD COLUMN checked_epoch INTEGER;
ALTER TABLE vec_index ADD COLUMN checked_pending INTEGER;
