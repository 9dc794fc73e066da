/* wav.c - 16-bit PCM RIFF/WAVE writer (what `dump clip` writes), and the
 * float <-> int16 conversion clips are stored with. Not a WAV reader: FFmpeg
 * reads WAV like any other input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/util.h"

#define WAV_HEADER 44
#define WAV_MAX_DATA 0xFFFFFFFFu - 36u /* RIFF sizes are 32-bit */

static void put_le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v & 0xFF);
	p[1] = (unsigned char)(v >> 8 & 0xFF);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i) & 0xFF);
}

void aed_f32_to_s16(const float *x, size_t n, int16_t *out)
{
	for (size_t i = 0; i < n; i++) {
		float v = x[i] * AED_CLIP_SCALE;
		if (!(v > -32768.0f)) /* also NaN */
			v = v != v ? 0.0f : -32768.0f;
		if (v > 32767.0f)
			v = 32767.0f;
		out[i] = (int16_t)lrintf(v);
	}
}

void aed_s16_to_f32(const int16_t *x, size_t n, float *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (float)x[i] * (1.0f / AED_CLIP_SCALE);
}

/* Layout: "RIFF" size "WAVE" | "fmt " 16 format=1 channels rate byte_rate
 * block_align bits=16 | "data" size samples..., all little-endian. */
int aed_wav_write_s16(const char *path, const int16_t *pcm, size_t frames, int rate, int channels)
{
	int rc;
	if (rate <= 0 || channels <= 0 || channels > 64)
		return aed_error(AED_EUSAGE, "%s: bad WAV parameters (%d Hz, %d channels)", path, rate, channels);
	if (frames > WAV_MAX_DATA / 2 / (size_t)channels)
		return aed_error(AED_ENOMEM, "%s: %zu frames do not fit a WAV file", path, frames);
	uint32_t data = (uint32_t)(frames * (size_t)channels * 2);
	unsigned char *buf = malloc(WAV_HEADER + (size_t)data);
	if (!buf)
		return aed_error(AED_ENOMEM, "%s: out of memory", path);
	memcpy(buf, "RIFF", 4);
	put_le32(buf + 4, 36 + data);
	memcpy(buf + 8, "WAVEfmt ", 8);
	put_le32(buf + 16, 16);
	put_le16(buf + 20, 1);
	put_le16(buf + 22, (unsigned)channels);
	put_le32(buf + 24, (uint32_t)rate);
	put_le32(buf + 28, (uint32_t)rate * (uint32_t)channels * 2);
	put_le16(buf + 32, (unsigned)channels * 2);
	put_le16(buf + 34, 16);
	memcpy(buf + 36, "data", 4);
	put_le32(buf + 40, data);
	unsigned char *p = buf + WAV_HEADER;
	for (size_t i = 0; i < frames * (size_t)channels; i++, p += 2)
		put_le16(p, (unsigned)(uint16_t)pcm[i]);
	rc = aed_write_file_atomic(path, buf, WAV_HEADER + (size_t)data);
	free(buf);
	return rc;
}

int aed_wav_write_f32(const char *path, const float *x, size_t n, int rate)
{
	int16_t *pcm = malloc((n ? n : 1) * sizeof *pcm);
	if (!pcm)
		return aed_error(AED_ENOMEM, "%s: out of memory", path);
	aed_f32_to_s16(x, n, pcm);
	int rc = aed_wav_write_s16(path, pcm, n, rate, 1);
	free(pcm);
	return rc;
}
