/* flac.h - a FLAC file of mono 16-bit samples, encoded in memory with
 * libavcodec, for the audio members of WebDataset shards (export.h). An
 * encoder only: reading FLAC goes through FFmpeg's decoder (audio.h).
 *
 * Layout written: "fLaC"; one metadata block header (0x80: last block, type 0
 * STREAMINFO; 24-bit length 34); the 34-byte STREAMINFO as the encoder left
 * it after the last frame (16+16 bits min/max block size, 24+24 bits min/max
 * frame size, 20 bits sample rate, 3 bits channels-1, 5 bits bits-per-sample-1,
 * 36 bits total samples, 128-bit MD5); then the frames. No other metadata
 * block, so the bytes depend only on the samples and the fixed encoder
 * settings (bit-exact, compression level 5, one thread).
 *
 * Ownership: bytes are appended to the caller's struct aed_buf (released with
 * aed_buf_release). Every function returning int returns an enum aed_status
 * and records a message.
 */
#ifndef AEDCURATE_FLAC_H
#define AEDCURATE_FLAC_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/util.h"

/* Append a whole FLAC file of n mono samples at rate Hz to out. Equal samples
 * give equal bytes (bit-exact encoder, no metadata but STREAMINFO). */
int aed_flac_encode_s16(const int16_t *x, size_t n, int rate, struct aed_buf *out);
/* The total-samples field of a FLAC file's STREAMINFO (0 if it is not one). */
uint64_t aed_flac_total_samples(const uint8_t *flac, size_t n);

#endif
