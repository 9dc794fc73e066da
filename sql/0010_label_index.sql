-- 0010_label_index.sql - weak labels are not indexed by class.
-- The segment lists bring millions of weak labels; a class index over them
-- made bulk ingest several times slower than loading the rows themselves.
-- Queries by class over weak labels are whole-corpus aggregations (priors,
-- export, refine) that scan anyway; look-ups by class that must be fast
-- (verified, strong and manifest labels: mining exemplars, reviews) keep a
-- partial index.
DROP INDEX label_class;
CREATE INDEX label_class_curated ON label(class_id, segment_id) WHERE source <> 'weak';
-- A segment's key starts with its ytid, so look-ups by ytid use the key's
-- index as a range (key >= 'ID_' AND key < 'ID`', '`' following '_').
DROP INDEX segment_ytid;
-- A split holds a large share of all segments (AudioSet: 3 splits), so an
-- index by split saves little over a scan of segment_split and costs a
-- second B-tree on every ingested row.
DROP INDEX segment_split_split;
