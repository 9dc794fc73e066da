/* sample_json.c - KEY.json of a WebDataset sample: labels, their sources,
 * review negatives, SeCoST soft labels, refined frames, audio and provenance
 * of a real clip (read from the database per sample), or the recipe of a mix.
 * Written by webdataset.c; the fields are listed in the export's README.md. */
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "stage/export/internal.h"

/* A clip's end: the segment's, or (open segments: manifest files) its start
 * plus the real samples, to the millisecond; the TFRecord's end_time_seconds
 * is this over 1000, so the two agree. */
int64_t ex_seg_end_ms(const struct xseg *g)
{
	return g->end_ms >= 0 ? g->end_ms : g->start_ms + (g->n_samples * 1000 + AED_SAMPLE_RATE / 2) /
								 AED_SAMPLE_RATE;
}

static json_t *ingest_json(const char *list)
{
	json_t *a = json_array();
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p)
			p++;
	}
	return a;
}

static json_t *columns_json(const struct ex *x, const int *cls, int n)
{
	float *row = malloc(((size_t)x->n_cols + 1) * sizeof *row);
	json_t *a = json_array();
	if (!row)
		return a;
	ex_target_row(x, cls, n, row);
	for (int c = 0; c < x->n_cols; c++)
		if (row[c] > 0)
			json_array_append_new(a, json_integer(c));
	free(row);
	return a;
}

static json_t *jstr_or_null(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? json_string((const char *)t) : json_null();
}

static void put_labels(const struct ex *x, json_t *o, const int *cls, int n)
{
	json_t *mids = json_array(), *names = json_array(), *idx = json_array();
	int64_t li[512];
	int nl = 0;
	for (int k = 0; k < n; k++) {
		json_array_append_new(mids, json_string(x->cls[cls[k]].mid));
		json_array_append_new(names, json_string(x->cls[cls[k]].name));
		if (x->cls[cls[k]].label_index >= 0 && nl < 512)
			li[nl++] = x->cls[cls[k]].label_index;
	}
	qsort(li, (size_t)nl, sizeof *li, ex_cmp_i64);
	for (int k = 0; k < nl; k++)
		json_array_append_new(idx, json_integer(li[k]));
	json_object_set_new(o, "mids", mids);
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "labels", idx);
}

int ex_prepare_queries(struct ex *x)
{
	int rc;
	if ((rc = aed_db_prepare(x->db,
				 "SELECT m.source, m.kind, m.sha256, m.run_id, c.run_id, "
				 "(SELECT run_id FROM array_ref WHERE kind = 'logmel_yamnet' AND item = s.id), "
				 "e.run_id, mo.name, mo.sha256, s.meta "
				 "FROM segment s LEFT JOIN media m ON m.segment_id = s.id "
				 "LEFT JOIN clip c ON c.segment_id = s.id "
				 "LEFT JOIN embedding e ON e.segment_id = s.id "
				 "LEFT JOIN model mo ON mo.id = e.model_id WHERE s.id = ?1", &x->st_info)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid, l.source FROM label l JOIN class c ON c.id = l.class_id "
				 "WHERE l.segment_id = ?1 AND" NOT_REJECTED("l") "ORDER BY c.mid, l.source",
				 &x->st_src)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid FROM review_decision r JOIN class c ON c.id = r.class_id "
				 "WHERE r.segment_id = ?1 AND r.decision = 'not_present' ORDER BY c.mid",
				 &x->st_neg)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid, s.target, s.prediction, s.stages, s.run_id FROM soft_label s "
				 "JOIN class c ON c.id = s.class_id WHERE s.segment_id = ?1 ORDER BY c.mid",
				 &x->st_soft)) ||
	    (rc = aed_db_prepare(x->db,
				 "SELECT c.mid, f.method, f.scorer, f.n_patches, f.hop_ms, f.n_kept, f.mask, "
				 "f.run_id, fs.scores, fs.n_patches FROM frame_mask f "
				 "JOIN class c ON c.id = f.class_id "
				 "LEFT JOIN frame_score fs ON fs.segment_id = f.segment_id AND "
				 "fs.class_id = f.class_id AND fs.scorer = f.scorer "
				 "WHERE f.segment_id = ?1 "
				 "ORDER BY c.mid, f.method = 'hysteresis' DESC, f.method", &x->st_mask)))
		return rc;
	return AED_OK;
}

/* label sources: {mid: [source, ...]} */
static int read_label_sources(struct ex *x, int64_t id, json_t *srcs)
{
	int s;

	sqlite3_reset(x->st_src);
	sqlite3_bind_int64(x->st_src, 1, id);
	while ((s = sqlite3_step(x->st_src)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(x->st_src, 0);
		json_t *a = json_object_get(srcs, mid);
		if (!a) {
			a = json_array();
			json_object_set_new(srcs, mid, a);
		}
		json_array_append_new(a, jstr_or_null(x->st_src, 1));
	}
	if (s != SQLITE_DONE)
		return aed_db_error(x->db, "export: label sources");
	return AED_OK;
}

/* verified negatives */
static int read_negatives(struct ex *x, int64_t id, json_t *neg)
{
	int s;

	sqlite3_reset(x->st_neg);
	sqlite3_bind_int64(x->st_neg, 1, id);
	while ((s = sqlite3_step(x->st_neg)) == SQLITE_ROW)
		json_array_append_new(neg, jstr_or_null(x->st_neg, 0));
	if (s != SQLITE_DONE)
		return aed_db_error(x->db, "export: review decisions");
	return AED_OK;
}

/* SeCoST soft labels; a clip that has one is refined */
static int read_soft_labels(struct ex *x, int64_t id, json_t *soft, int *refined)
{
	int s;

	sqlite3_reset(x->st_soft);
	sqlite3_bind_int64(x->st_soft, 1, id);
	while ((s = sqlite3_step(x->st_soft)) == SQLITE_ROW) {
		json_object_set_new(soft, (const char *)sqlite3_column_text(x->st_soft, 0),
				    json_pack("{s:f, s:f, s:I}", "target", sqlite3_column_double(x->st_soft, 1),
					      "prediction", sqlite3_column_double(x->st_soft, 2), "stages",
					      (json_int_t)sqlite3_column_int64(x->st_soft, 3)));
		*refined = 1;
	}
	if (s != SQLITE_DONE)
		return aed_db_error(x->db, "export: soft labels");
	return AED_OK;
}

/* refined frames: per class the preferred method's mask and its scorer's scores */
static int read_frames(struct ex *x, int64_t id, json_t *frames, int *refined)
{
	int s;

	sqlite3_reset(x->st_mask);
	sqlite3_bind_int64(x->st_mask, 1, id);
	while ((s = sqlite3_step(x->st_mask)) == SQLITE_ROW) {
		sqlite3_stmt *st = x->st_mask;
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		if (json_object_get(frames, mid))
			continue;
		int np = sqlite3_column_int(st, 3);
		const uint8_t *mask = sqlite3_column_blob(st, 6);
		int mlen = sqlite3_column_bytes(st, 6);
		json_t *f = json_object(), *ma = json_array(), *sc = json_null();
		for (int i = 0; i < np && i < mlen; i++)
			json_array_append_new(ma, json_integer(mask[i] ? 1 : 0));
		if (sqlite3_column_type(st, 8) == SQLITE_BLOB) {
			const uint8_t *b = sqlite3_column_blob(st, 8);
			int n = sqlite3_column_bytes(st, 8) / 4;
			sc = json_array();
			for (int i = 0; i < n; i++) {
				float v;
				memcpy(&v, b + 4 * i, 4);
				json_array_append_new(sc, json_real(v));
			}
		}
		json_object_set_new(f, "method", jstr_or_null(st, 1));
		json_object_set_new(f, "scorer", jstr_or_null(st, 2));
		json_object_set_new(f, "hop_ms", json_integer(sqlite3_column_int64(st, 4)));
		json_object_set_new(f, "n_patches", json_integer(np));
		json_object_set_new(f, "n_kept", json_integer(sqlite3_column_int64(st, 5)));
		json_object_set_new(f, "mask", ma);
		json_object_set_new(f, "scores", sc);
		json_object_set_new(frames, mid, f);
		*refined = 1;
	}
	if (s != SQLITE_DONE)
		return aed_db_error(x->db, "export: frame masks");
	return AED_OK;
}

/* provenance: the fetched file and the model */
static int read_provenance(struct ex *x, const struct xseg *g, json_t *prov)
{
	sqlite3_reset(x->st_info);
	sqlite3_bind_int64(x->st_info, 1, g->id);
	if (sqlite3_step(x->st_info) != SQLITE_ROW)
		return aed_db_error(x->db, "export: provenance");
	sqlite3_stmt *st = x->st_info;
	json_object_set_new(prov, "augmented", json_false());
	json_object_set_new(prov, "source_group", json_string(g->group));
	json_object_set_new(prov, "source", jstr_or_null(st, 0));
	json_object_set_new(prov, "fetch_kind", jstr_or_null(st, 1));
	json_object_set_new(prov, "sha256", jstr_or_null(st, 2));
	json_object_set_new(prov, "model",
			    sqlite3_column_type(st, 7) == SQLITE_NULL
				    ? json_null()
				    : json_pack("{s:o, s:o}", "name", jstr_or_null(st, 7), "sha256",
						jstr_or_null(st, 8)));
	/* No run ids: they are local to a database, and a sample must come out
	 * the same from a corpus merged from shards as from one database. The
	 * runs that made the export are manifest.json's `runs`. */
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		json_t *meta = json_loads((const char *)sqlite3_column_text(st, 9), 0, NULL);
		if (meta)
			json_object_set_new(prov, "meta", meta);
	}
	return AED_OK;
}

/* JSON of a real clip: labels, their sources, refinement, weight, provenance. */
int ex_seg_json(struct ex *x, const struct xseg *g, const char *split, int audio,
		json_t **out)
{
	json_t *o = json_object(), *prov = json_object(), *neg = json_array();
	json_t *soft = json_object(), *frames = json_object(), *srcs = json_object();
	int rc = AED_OK, refined = 0;

	json_object_set_new(o, "key", json_string(g->key));
	json_object_set_new(o, "ytid", json_string(g->ytid));
	json_object_set_new(o, "start_ms", json_integer(g->start_ms));
	json_object_set_new(o, "end_ms", json_integer(ex_seg_end_ms(g)));
	json_object_set_new(o, "split", json_string(split));
	json_object_set_new(o, "ingest_splits", ingest_json(g->ingest));
	put_labels(x, o, g->cls, g->n_cls);
	json_object_set_new(o, "columns", columns_json(x, g->cls, g->n_cls));
	if ((rc = read_label_sources(x, g->id, srcs)))
		goto out;
	json_object_set_new(o, "label_sources", srcs);
	srcs = NULL;
	if ((rc = read_negatives(x, g->id, neg)))
		goto out;
	json_object_set_new(o, "negatives", neg);
	neg = NULL;
	if ((rc = read_soft_labels(x, g->id, soft, &refined)) ||
	    (rc = read_frames(x, g->id, frames, &refined)))
		goto out;
	json_object_set_new(o, "refined", json_boolean(refined));
	json_object_set_new(o, "soft_labels", soft);
	json_object_set_new(o, "frames", frames);
	soft = frames = NULL;
	json_object_set_new(o, "audio",
			    json_pack("{s:i, s:I, s:s*}", "sample_rate", AED_SAMPLE_RATE, "n_samples",
				      (json_int_t)g->n_samples, "member", audio ? "flac" : NULL));
	if ((rc = read_provenance(x, g, prov)))
		goto out;
	json_object_set_new(o, "provenance", prov);
	prov = NULL;
	*out = o;
	o = NULL;
out:
	json_decref(o);
	json_decref(prov);
	json_decref(neg);
	json_decref(soft);
	json_decref(frames);
	json_decref(srcs);
	return rc;
}

int ex_mix_json(struct ex *x, const struct xmix *m, const char *split, size_t n_samples,
		int audio, json_t **out)
{
	const struct xseg *a = &x->seg[m->a], *b = &x->seg[m->b];
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(m->key));
	json_object_set_new(o, "ytid", json_string(a->ytid));
	json_object_set_new(o, "start_ms", json_integer(a->start_ms));
	json_object_set_new(o, "end_ms", json_integer(a->start_ms + ((int64_t)n_samples * 1000 +
								      AED_SAMPLE_RATE / 2) / AED_SAMPLE_RATE));
	json_object_set_new(o, "split", json_string(split));
	json_object_set_new(o, "ingest_splits", json_array());
	put_labels(x, o, m->cls_union, m->n_cls);
	json_object_set_new(o, "columns", columns_json(x, m->cls_union, m->n_cls));
	json_object_set_new(o, "label_sources", json_object());
	json_object_set_new(o, "negatives", json_array());
	json_object_set_new(o, "refined", json_false());
	json_object_set_new(o, "soft_labels", json_object());
	json_object_set_new(o, "frames", json_object());
	json_object_set_new(o, "audio",
			    json_pack("{s:i, s:I, s:s*}", "sample_rate", AED_SAMPLE_RATE, "n_samples",
				      (json_int_t)n_samples, "member", audio ? "flac" : NULL));
	json_object_set_new(
		o, "provenance",
		json_pack("{s:b, s:s, s:{s:s, s:s, s:s, s:f, s:f, s:{s:s, s:f, s:f, s:f}}}",
			  "augmented", 1, "source_group", a->group, "mix", "class", x->cls[m->cls].mid,
			  "a", a->key, "b", b->key, "delay_s", m->delay_s, "gain_db", m->gain_db, "eq",
			  "type", "peaking", "freq_hz", m->eq_hz, "gain_db", m->eq_db, "q", 1.0));
	*out = o;
	return o ? AED_OK : aed_error(AED_ENOMEM, "export: out of memory");
}
