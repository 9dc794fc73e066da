-- 0003_clip.sql - decoded clips (written by `decode`). One row per segment
-- whose clip is in the array store as kind 'clip': i16 [n_total] 16 kHz mono,
-- zero-padded to the clip length (layout in include/aedcurate/audio.h).
-- Segments that failed to decode have no row; their reason is in
-- work(stage 'decode').error.
CREATE TABLE clip (
	segment_id  INTEGER PRIMARY KEY REFERENCES segment(id) ON DELETE CASCADE,
	n_samples   INTEGER NOT NULL,       -- real samples at 16 kHz before padding
	n_total     INTEGER NOT NULL,       -- samples stored: clip seconds x 16000
	start_ms    INTEGER NOT NULL,       -- where the cut starts in the file
	source_rate INTEGER NOT NULL,       -- Hz, of the decoded source stream
	channels    INTEGER NOT NULL,       -- of the source stream, before downmix
	codec       TEXT NOT NULL,          -- FFmpeg codec name: aac, opus, mp3, ...
	peak        REAL NOT NULL,          -- max |x| over the real samples, 0..1
	rms_db      REAL NOT NULL,          -- RMS of the real samples, dBFS (-120 floor)
	run_id      INTEGER REFERENCES run(id)
);
