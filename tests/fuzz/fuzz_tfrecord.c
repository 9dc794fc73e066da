/* fuzz_tfrecord.c - libFuzzer target for the TFRecord reader and the
 * SequenceExample decoder. Input: a TFRecord image. Every record that passes
 * its CRCs is decoded; so is the whole input taken as one bare protobuf (the
 * CRCs would otherwise keep most mutations away from the decoder). A decoded
 * example is encoded again and decoded back, and must give the same video id,
 * times, labels and embedding rows. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/tfrecord.h"
#include "aedcurate/util.h"

/* float -> double -> float may quieten a signalling NaN: any NaN matches any */
static int same_float(float a, float b)
{
	return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a);
}

static void roundtrip(const struct aed_seqex *s)
{
	struct aed_buf b = { 0 };
	struct aed_seqex t;
	uint8_t *rows;

	if (s->n_rows && s->row_bytes != 128)
		return; /* the encoder writes 128-byte rows only */
	rows = malloc(s->n_rows * 128 + 1);
	if (!rows)
		abort();
	for (size_t i = 0; i < s->n_rows; i++)
		memcpy(rows + 128 * i, s->rows[i], 128);
	if (aed_seqex_encode(s->video_id, s->start_s, s->end_s, s->labels, s->n_labels, rows,
			     s->n_rows, &b) != AED_OK)
		abort();
	if (aed_seqex_decode((const uint8_t *)b.data, b.len, &t) != AED_OK)
		abort();
	if (strcmp(t.video_id, s->video_id) || t.n_labels != s->n_labels || t.n_rows != s->n_rows ||
	    (s->n_labels && memcmp(t.labels, s->labels, s->n_labels * sizeof *s->labels)) ||
	    !same_float(t.start_s, s->start_s) || !same_float(t.end_s, s->end_s))
		abort();
	for (size_t i = 0; i < t.n_rows; i++)
		if (memcmp(t.rows[i], rows + 128 * i, 128))
			abort();
	aed_seqex_release(&t);
	aed_buf_release(&b);
	free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	const uint8_t *rec;
	size_t len;
	int done = 0;
	struct aed_seqex bare;

	if (aed_seqex_decode(data, size, &bare) == AED_OK) {
		roundtrip(&bare);
		aed_seqex_release(&bare);
	}
	while (aed_tfrecord_next("input", data, size, &off, &rec, &len, &done) == AED_OK && !done) {
		struct aed_seqex s;
		if (aed_seqex_decode(rec, len, &s) == AED_OK) {
			/* the decoder takes the first value of a list; a missing
			 * start or end reads as -1, which round-trips too */
			roundtrip(&s);
			aed_seqex_release(&s);
		}
	}
	return 0;
}
