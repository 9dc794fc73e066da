/* tfrecord.c - TFRecord framing (CRC32C) and a minimal protobuf encoder and
 * decoder for the AudioSet SequenceExample (layout in tfrecord.h). No
 * generated code and no protobuf library: the schema is five small messages. */
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/tfrecord.h"

/* --- CRC32C ------------------------------------------------------------------ */
static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	__atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t aed_crc32c(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
		crc_init(); /* idempotent: racing threads write the same table */
	crc = ~crc;
	/* slicing by 8 */
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		      crc_table[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t aed_crc32c_masked(const void *data, size_t n)
{
	uint32_t c = aed_crc32c(0, data, n);
	return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int aed_tfrecord_append(struct aed_buf *out, const void *data, size_t n)
{
	uint8_t head[12], tail[4];
	uint64_t len = n;

	for (int i = 0; i < 8; i++)
		head[i] = (uint8_t)(len >> (8 * i));
	le32(head + 8, aed_crc32c_masked(head, 8));
	le32(tail, aed_crc32c_masked(data, n));
	int rc;
	if ((rc = aed_buf_append(out, head, sizeof head)) || (rc = aed_buf_append(out, data, n)) ||
	    (rc = aed_buf_append(out, tail, sizeof tail)))
		return rc;
	return AED_OK;
}

int aed_tfrecord_next(const char *name, const uint8_t *buf, size_t n, size_t *off,
		      const uint8_t **data, size_t *len, int *done)
{
	size_t o = *off;

	*done = 0;
	if (o == n) {
		*done = 1;
		return AED_OK;
	}
	if (o > n || n - o < 12)
		return aed_error(AED_EFORMAT, "%s: offset %zu: truncated record header", name, o);
	uint64_t l = 0;
	for (int i = 0; i < 8; i++)
		l |= (uint64_t)buf[o + i] << (8 * i);
	if (rd32(buf + o + 8) != aed_crc32c_masked(buf + o, 8))
		return aed_error(AED_EFORMAT, "%s: offset %zu: length CRC mismatch", name, o);
	if (l > n - o - 12 || n - o - 12 - l < 4)
		return aed_error(AED_EFORMAT, "%s: offset %zu: record of %llu bytes runs past the end",
				 name, o, (unsigned long long)l);
	const uint8_t *d = buf + o + 12;
	if (rd32(d + l) != aed_crc32c_masked(d, (size_t)l))
		return aed_error(AED_EFORMAT, "%s: offset %zu: data CRC mismatch", name, o);
	*data = d;
	*len = (size_t)l;
	*off = o + 12 + (size_t)l + 4;
	return AED_OK;
}

/* --- protobuf encoding ------------------------------------------------------- */
static int put_varint(struct aed_buf *b, uint64_t v)
{
	uint8_t t[10];
	int k = 0;
	do {
		t[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return aed_buf_append(b, t, (size_t)k);
}

/* field with wire type 2 */
static int put_bytes(struct aed_buf *b, int field, const void *p, size_t n)
{
	int rc;
	if ((rc = put_varint(b, (uint64_t)field << 3 | 2)) || (rc = put_varint(b, n)) ||
	    (rc = aed_buf_append(b, p, n)))
		return rc;
	return AED_OK;
}

/* Feature{bytes_list{value}} for each of n values of `len` bytes. */
static int feature_bytes(struct aed_buf *f, const void *v, size_t len)
{
	struct aed_buf list = { 0 };
	int rc = put_bytes(&list, 1, v, len);
	if (!rc)
		rc = put_bytes(f, 1, list.data, list.len);
	aed_buf_release(&list);
	return rc;
}

static int feature_float(struct aed_buf *f, float v)
{
	struct aed_buf packed = { 0 }, list = { 0 };
	uint8_t b[4];
	uint32_t u;
	int rc;
	memcpy(&u, &v, 4);
	le32(b, u);
	if (!(rc = put_bytes(&list, 1, b, 4)))
		rc = put_bytes(f, 2, list.data, list.len);
	aed_buf_release(&packed);
	aed_buf_release(&list);
	return rc;
}

static int feature_int64(struct aed_buf *f, const int64_t *v, size_t n)
{
	struct aed_buf packed = { 0 }, list = { 0 };
	int rc = AED_OK;
	for (size_t i = 0; i < n && !rc; i++)
		rc = put_varint(&packed, (uint64_t)v[i]);
	if (!rc && n)
		rc = put_bytes(&list, 1, packed.data, packed.len);
	if (!rc)
		rc = put_bytes(f, 3, list.data ? list.data : "", list.len);
	aed_buf_release(&packed);
	aed_buf_release(&list);
	return rc;
}

/* A map entry {key = 1, value = 2} appended as field `field` of `out`. */
static int map_entry(struct aed_buf *out, const char *key, const struct aed_buf *value)
{
	struct aed_buf e = { 0 };
	int rc;
	if (!(rc = put_bytes(&e, 1, key, strlen(key))) &&
	    !(rc = put_bytes(&e, 2, value->data ? value->data : "", value->len)))
		rc = put_bytes(out, 1, e.data, e.len);
	aed_buf_release(&e);
	return rc;
}

int aed_seqex_encode(const char *video_id, double start_s, double end_s,
		     const int64_t *labels, size_t n_labels, const uint8_t *rows,
		     size_t n_rows, struct aed_buf *out)
{
	struct aed_buf ctx = { 0 }, lists = { 0 }, f = { 0 }, fl = { 0 }, entry = { 0 };
	int rc;

	/* context, keys in sorted order */
	if ((rc = feature_float(&f, (float)end_s)) || (rc = map_entry(&ctx, "end_time_seconds", &f)))
		goto out;
	f.len = 0;
	if ((rc = feature_int64(&f, labels, n_labels)) || (rc = map_entry(&ctx, "labels", &f)))
		goto out;
	f.len = 0;
	if ((rc = feature_float(&f, (float)start_s)) ||
	    (rc = map_entry(&ctx, "start_time_seconds", &f)))
		goto out;
	f.len = 0;
	if ((rc = feature_bytes(&f, video_id, strlen(video_id))) ||
	    (rc = map_entry(&ctx, "video_id", &f)))
		goto out;
	/* feature_lists: audio_embedding = FeatureList{feature: Feature{bytes_list}} */
	for (size_t i = 0; i < n_rows; i++) {
		f.len = 0;
		if ((rc = feature_bytes(&f, rows + i * 128, 128)) ||
		    (rc = put_bytes(&fl, 1, f.data, f.len)))
			goto out;
	}
	if ((rc = map_entry(&lists, "audio_embedding", &fl)))
		goto out;
	if ((rc = put_bytes(out, 1, ctx.data, ctx.len)) ||
	    (rc = put_bytes(out, 2, lists.data ? lists.data : "", lists.len)))
		goto out;
out:
	aed_buf_release(&ctx);
	aed_buf_release(&lists);
	aed_buf_release(&f);
	aed_buf_release(&fl);
	aed_buf_release(&entry);
	return rc;
}

/* --- protobuf decoding ------------------------------------------------------- */
struct pb {
	const uint8_t *p, *end;
};

static int get_varint(struct pb *b, uint64_t *v)
{
	*v = 0;
	for (int s = 0; s < 70; s += 7) {
		if (b->p >= b->end)
			return aed_error(AED_EFORMAT, "protobuf: truncated varint");
		uint8_t c = *b->p++;
		if (s == 63 && c > 1)
			return aed_error(AED_EFORMAT, "protobuf: varint over 64 bits");
		*v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return AED_OK;
	}
	return aed_error(AED_EFORMAT, "protobuf: varint too long");
}

/* Next field: *field, *wt; for wire type 2 *sub is the payload; for 0 *v; for
 * 5 the 4 bytes in *v. Other wire types are refused (the schema has none). */
static int get_field(struct pb *b, int *field, int *wt, struct pb *sub, uint64_t *v)
{
	uint64_t tag;
	int rc;
	if ((rc = get_varint(b, &tag)))
		return rc;
	*field = (int)(tag >> 3);
	*wt = (int)(tag & 7);
	if (tag >> 3 == 0 || tag >> 3 > 536870911)
		return aed_error(AED_EFORMAT, "protobuf: bad field number");
	switch (*wt) {
	case 0:
		return get_varint(b, v);
	case 1:
		if (b->end - b->p < 8)
			return aed_error(AED_EFORMAT, "protobuf: truncated fixed64");
		b->p += 8;
		return AED_OK;
	case 2: {
		uint64_t n;
		if ((rc = get_varint(b, &n)))
			return rc;
		if (n > (uint64_t)(b->end - b->p))
			return aed_error(AED_EFORMAT, "protobuf: field %d of %llu bytes runs past the end",
					 *field, (unsigned long long)n);
		sub->p = b->p;
		sub->end = b->p + n;
		b->p += n;
		return AED_OK;
	}
	case 5:
		if (b->end - b->p < 4)
			return aed_error(AED_EFORMAT, "protobuf: truncated fixed32");
		*v = rd32(b->p);
		b->p += 4;
		return AED_OK;
	default:
		return aed_error(AED_EFORMAT, "protobuf: wire type %d not used by the schema", *wt);
	}
}

/* The Feature oneof: kind 1 bytes, 2 float, 3 int64; the list payload in *list. */
static int get_feature(struct pb f, int *kind, struct pb *list)
{
	int field, wt, rc;
	uint64_t v;
	struct pb sub;
	*kind = 0;
	while (f.p < f.end) {
		if ((rc = get_field(&f, &field, &wt, &sub, &v)))
			return rc;
		if (wt == 2 && field >= 1 && field <= 3) {
			*kind = field;
			*list = sub;
		}
	}
	return AED_OK;
}

static int first_float(struct pb list, float *out)
{
	int field, wt, rc;
	uint64_t v;
	struct pb sub;
	while (list.p < list.end) {
		if ((rc = get_field(&list, &field, &wt, &sub, &v)))
			return rc;
		if (field != 1)
			continue;
		if (wt == 5) {
			uint32_t u = (uint32_t)v;
			memcpy(out, &u, 4);
			return AED_OK;
		}
		if (wt == 2 && sub.end - sub.p >= 4) {
			uint32_t u = rd32(sub.p);
			memcpy(out, &u, 4);
			return AED_OK;
		}
	}
	return aed_error(AED_EFORMAT, "SequenceExample: empty float list");
}

static int push_label(struct aed_seqex *s, uint64_t v)
{
	if (s->n_labels >= 4096)
		return aed_error(AED_EFORMAT, "SequenceExample: more than 4096 labels");
	int64_t *l = realloc(s->labels, (s->n_labels + 1) * sizeof *l);
	if (!l)
		return aed_error(AED_ENOMEM, "SequenceExample: out of memory");
	s->labels = l;
	l[s->n_labels++] = (int64_t)v;
	return AED_OK;
}

static int int64_list(struct pb list, struct aed_seqex *s)
{
	int field, wt, rc;
	uint64_t v;
	struct pb sub;
	while (list.p < list.end) {
		if ((rc = get_field(&list, &field, &wt, &sub, &v)))
			return rc;
		if (field != 1)
			continue;
		if (wt == 0) {
			if ((rc = push_label(s, v)))
				return rc;
		} else if (wt == 2) {
			while (sub.p < sub.end)
				if ((rc = get_varint(&sub, &v)) || (rc = push_label(s, v)))
					return rc;
		}
	}
	return AED_OK;
}

/* bytes_list's first value */
static int first_bytes(struct pb list, struct pb *out)
{
	int field, wt, rc;
	uint64_t v;
	struct pb sub;
	while (list.p < list.end) {
		if ((rc = get_field(&list, &field, &wt, &sub, &v)))
			return rc;
		if (field == 1 && wt == 2) {
			*out = sub;
			return AED_OK;
		}
	}
	return aed_error(AED_EFORMAT, "SequenceExample: empty bytes list");
}

/* One map entry: key and value payloads. */
static int map_kv(struct pb e, struct pb *key, struct pb *val)
{
	int field, wt, rc;
	uint64_t v;
	struct pb sub;
	key->p = key->end = val->p = val->end = NULL;
	while (e.p < e.end) {
		if ((rc = get_field(&e, &field, &wt, &sub, &v)))
			return rc;
		if (wt == 2 && field == 1)
			*key = sub;
		else if (wt == 2 && field == 2)
			*val = sub;
	}
	return AED_OK;
}

static int key_is(struct pb k, const char *s)
{
	size_t n = strlen(s);
	return k.p && (size_t)(k.end - k.p) == n && !memcmp(k.p, s, n);
}

static int parse_context(struct pb c, struct aed_seqex *s)
{
	int field, wt, rc, kind;
	uint64_t v;
	struct pb e, key, val, list;
	while (c.p < c.end) {
		if ((rc = get_field(&c, &field, &wt, &e, &v)))
			return rc;
		if (field != 1 || wt != 2)
			continue;
		if ((rc = map_kv(e, &key, &val)) || !val.p)
			continue;
		if ((rc = get_feature(val, &kind, &list)))
			return rc;
		if (key_is(key, "video_id") && kind == 1) {
			struct pb b;
			if ((rc = first_bytes(list, &b)))
				return rc;
			size_t n = (size_t)(b.end - b.p);
			if (n >= sizeof s->video_id)
				return aed_error(AED_EFORMAT, "SequenceExample: video_id of %zu bytes", n);
			memcpy(s->video_id, b.p, n);
			s->video_id[n] = '\0';
		} else if (key_is(key, "start_time_seconds") && kind == 2) {
			if ((rc = first_float(list, &s->start_s)))
				return rc;
		} else if (key_is(key, "end_time_seconds") && kind == 2) {
			if ((rc = first_float(list, &s->end_s)))
				return rc;
		} else if (key_is(key, "labels") && kind == 3) {
			if ((rc = int64_list(list, s)))
				return rc;
		}
	}
	return AED_OK;
}

static int parse_lists(struct pb c, struct aed_seqex *s)
{
	int field, wt, rc, kind;
	uint64_t v;
	struct pb e, key, val, f, list, b;
	while (c.p < c.end) {
		if ((rc = get_field(&c, &field, &wt, &e, &v)))
			return rc;
		if (field != 1 || wt != 2)
			continue;
		if ((rc = map_kv(e, &key, &val)))
			return rc;
		if (!key_is(key, "audio_embedding") || !val.p)
			continue;
		while (val.p < val.end) {
			if ((rc = get_field(&val, &field, &wt, &f, &v)))
				return rc;
			if (field != 1 || wt != 2)
				continue;
			if ((rc = get_feature(f, &kind, &list)))
				return rc;
			if (kind != 1)
				return aed_error(AED_EFORMAT, "SequenceExample: audio_embedding row is not bytes");
			if ((rc = first_bytes(list, &b)))
				return rc;
			int len = (int)(b.end - b.p);
			if (s->n_rows && len != s->row_bytes)
				return aed_error(AED_EFORMAT, "SequenceExample: embedding rows of %d and %d bytes",
						 s->row_bytes, len);
			if (s->n_rows >= sizeof s->rows / sizeof s->rows[0])
				return aed_error(AED_EFORMAT, "SequenceExample: more than %zu embedding rows",
						 sizeof s->rows / sizeof s->rows[0]);
			s->row_bytes = len;
			s->rows[s->n_rows++] = b.p;
		}
	}
	return AED_OK;
}

int aed_seqex_decode(const uint8_t *data, size_t n, struct aed_seqex *out)
{
	struct pb b = { data, data + n }, sub;
	int field, wt, rc = AED_OK;
	uint64_t v;

	memset(out, 0, sizeof *out);
	out->start_s = out->end_s = -1;
	while (b.p < b.end) {
		if ((rc = get_field(&b, &field, &wt, &sub, &v)))
			goto out;
		if (wt != 2)
			continue;
		if (field == 1 && (rc = parse_context(sub, out)))
			goto out;
		if (field == 2 && (rc = parse_lists(sub, out)))
			goto out;
	}
out:
	if (rc)
		aed_seqex_release(out);
	return rc;
}

void aed_seqex_release(struct aed_seqex *s)
{
	free(s->labels);
	s->labels = NULL;
	s->n_labels = 0;
}
