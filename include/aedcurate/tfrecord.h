/* tfrecord.h - TFRecord framing with CRC32C, and the tf.train.SequenceExample
 * protobuf of the AudioSet release's feature files: an encoder for shards and
 * a bounds-checked decoder used by the tests and the fuzz target.
 *
 * Record layout (little-endian):
 *   uint64 length | uint32 masked_crc32c(the 8 length bytes) | data[length] |
 *   uint32 masked_crc32c(data)
 * masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32), CRC32C being
 * the Castagnoli CRC (reflected polynomial 0x82f63b78, init and final xor
 * 0xffffffff).
 *
 * Protobuf subset (wire types 0 varint, 2 length-delimited, 5 fixed32):
 *   SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
 *   Features        { map<string, Feature> feature = 1; }        entry {key=1, value=2}
 *   FeatureLists    { map<string, FeatureList> feature_list = 1; } entry {key=1, value=2}
 *   FeatureList     { repeated Feature feature = 1; }
 *   Feature         { BytesList bytes_list = 1 | FloatList float_list = 2 |
 *                     Int64List int64_list = 3; }
 *   BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1
 *   [packed]; }  Int64List { repeated int64 value = 1 [packed]; }
 * The encoder writes map entries in key order (context: end_time_seconds,
 * labels, start_time_seconds, video_id), so equal inputs give equal bytes.
 *
 * Ownership: output goes to the caller's struct aed_buf. A parsed struct
 * aed_seqex points into the parsed buffer (embedding rows) except labels,
 * malloc'd and freed by aed_seqex_release().
 */
#ifndef AEDCURATE_TFRECORD_H
#define AEDCURATE_TFRECORD_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/util.h"

uint32_t aed_crc32c(uint32_t crc, const void *data, size_t n); /* crc 0 to start */
uint32_t aed_crc32c_masked(const void *data, size_t n);

/* Append one framed record. */
int aed_tfrecord_append(struct aed_buf *out, const void *data, size_t n);
/* Next record of a TFRecord image: *off starts at 0; *done = 1 at the end.
 * A short frame or a CRC mismatch is AED_EFORMAT naming `name` and the offset. */
int aed_tfrecord_next(const char *name, const uint8_t *buf, size_t n, size_t *off,
		      const uint8_t **data, size_t *len, int *done);

/* The AudioSet SequenceExample. */
#define AED_SEQEX_MAX_ROWS 3600  /* seconds of embedding rows the decoder keeps */
struct aed_seqex {
	char video_id[128];
	float start_s, end_s;       /* start/end_time_seconds */
	int64_t *labels;            /* class_labels_indices indices */
	size_t n_labels;
	const uint8_t *rows[AED_SEQEX_MAX_ROWS]; /* audio_embedding: 128-byte strings, one per
	                                          * second; more rows are refused */
	size_t n_rows;
	int row_bytes;              /* 128 */
};

/* Append the protobuf of one example (rows: n_rows x 128 bytes). */
int aed_seqex_encode(const char *video_id, double start_s, double end_s,
		     const int64_t *labels, size_t n_labels, const uint8_t *rows,
		     size_t n_rows, struct aed_buf *out);
/* Parse one example. Unknown fields are skipped; every length is checked. */
int aed_seqex_decode(const uint8_t *data, size_t n, struct aed_seqex *out);
void aed_seqex_release(struct aed_seqex *s);

#endif
