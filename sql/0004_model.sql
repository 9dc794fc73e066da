-- 0004_model.sql - neural-network models and the embeddings made with them
-- (written by `embed`). A model is known by its name and the sha256 of its
-- file; every embedding row names the model that made it, so results of two
-- different files are never mixed. The arrays themselves are in the array
-- store: kind 'embedding' f32 [n_patches, embed_dim] and kind 'scores' f32
-- [n_patches, n_classes] per segment, patch i covering log-mel frames
-- [48 i, 48 i + 96) (0.48 s hop, 0.96 s long).
CREATE TABLE model (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL,            -- 'yamnet'
	sha256       TEXT NOT NULL UNIQUE,     -- of the model file
	path         TEXT NOT NULL,            -- where it was last loaded from
	embed_dim    INTEGER NOT NULL,         -- 1024
	n_classes    INTEGER NOT NULL,         -- 521
	patch_frames INTEGER NOT NULL,         -- 96 log-mel frames (0.96 s)
	patch_hop    INTEGER NOT NULL,         -- 48 frames (0.48 s)
	quantized    INTEGER NOT NULL,         -- 1: int8 weights in the file
	macs         INTEGER NOT NULL,         -- multiply-adds per patch
	added_at     TEXT NOT NULL             -- ISO 8601 UTC
);

CREATE TABLE embedding (
	segment_id INTEGER PRIMARY KEY REFERENCES segment(id) ON DELETE CASCADE,
	model_id   INTEGER NOT NULL REFERENCES model(id),
	n_patches  INTEGER NOT NULL,
	run_id     INTEGER REFERENCES run(id)
);
CREATE INDEX embedding_model ON embedding(model_id);
