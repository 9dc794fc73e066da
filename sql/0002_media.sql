-- 0002_media.sql - where each segment's audio file is (written by `fetch`).
-- One row per segment that fetch has looked at. The decode stage reads
--   SELECT segment_id, path, whole_video FROM media WHERE status = 'ok'.
CREATE TABLE media (
	segment_id  INTEGER PRIMARY KEY REFERENCES segment(id) ON DELETE CASCADE,
	status      TEXT NOT NULL,          -- ok | unavailable | failed
	path        TEXT,                   -- absolute path of the file (status ok)
	whole_video INTEGER NOT NULL,       -- 1: the file holds the whole source and
	                                    --    decode cuts [start_ms, end_ms);
	                                    -- 0: the file is the segment itself
	size        INTEGER,                -- bytes
	sha256      TEXT,                   -- hex, of the whole file
	source      TEXT,                   -- the --from folder, the expanded URL or
	                                    -- the expanded command it came from
	                                    -- ('manifest' for a manifest's own path)
	kind        TEXT,                   -- local | manifest | url | cmd: which
	                                    -- kind of source answered last
	error       TEXT,                   -- why it is unavailable or failed
	http_status INTEGER,                -- last HTTP status seen, if any
	exit_status INTEGER,                -- last --cmd exit status, if any
	attempts    INTEGER NOT NULL DEFAULT 0, -- transfers and commands tried, all runs
	fetched_at  TEXT,                   -- ISO 8601 UTC of this row's last update
	run_id      INTEGER REFERENCES run(id)
);
CREATE INDEX media_status ON media(status);
