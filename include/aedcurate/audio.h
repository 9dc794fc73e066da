/* audio.h - the audio front end: FFmpeg decode/cut/downmix/resample in-process,
 * the AudioSet log-mel front end (VGGish/YAMNet) on FFTW3, 16-bit WAV output,
 * and Opus and PNG encoding (the review page's clips and spectrograms). The
 * decode and features stages that store clips and log-mels are in decode.h.
 *
 * Ownership: arrays returned through `float **` / `int16_t **` are malloc'd and
 * belong to the caller (free()). Every function returns an enum aed_status and
 * records a message with aed_error(); nothing here prints or exits.
 *
 * Clip layout in the array store (kind "clip"): dtype i16, dims [n, 1, 1],
 * n = clip_seconds * 16000 samples of 16 kHz mono PCM, little-endian; sample
 * value v stands for v / 32768.0 in [-1, 1). Clips shorter than the clip length
 * are padded with zeros; the real length is clip.n_samples (sql/0003_clip.sql).
 * int16 rather than f32 halves the disk at AudioSet scale (2 M clips x 10 s:
 * 640 GB instead of 1.28 TB) and its quantisation noise (-96 dBFS) is far below
 * the log-mel offsets (log(mel + 0.001) floors at -6.9).
 *
 * Log-mel layout (kind "logmel_<preset>"): dtype f32, dims [frames, 64, 1],
 * over the clip's real samples only (aed_logmel_samples()), not its padding.
 */
#ifndef AEDCURATE_AUDIO_H
#define AEDCURATE_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#define AED_SAMPLE_RATE 16000    /* Hz, what the AudioSet models expect */
#define AED_MEL_BANDS 64
#define AED_PATCH_FRAMES 96      /* 0.96 s */
#define AED_STFT_WINDOW 400      /* samples, 25 ms periodic Hann */
#define AED_STFT_HOP 160         /* samples, 10 ms */
#define AED_FFT_SIZE 512
#define AED_MEL_LOW_HZ 125.0
#define AED_MEL_HIGH_HZ 7500.0
#define AED_CLIP_SCALE 32768.0f  /* int16 clip sample = round(x * 32768), clamped */

/* --- decode ------------------------------------------------------------------ */

/* Decode [start_s, start_s + dur_s) of any FFmpeg-readable file to mono float
 * samples in [-1,1] at `rate` Hz (downmix all channels, swresample). dur_s <= 0:
 * to the end. Errors carry FFmpeg's error text and the path.
 * Times are relative to the file's start time, as `ffmpeg -ss` takes them. The
 * cut is sample-accurate: samples before the start are dropped at the source
 * rate, after a seek that leaves 0.2 s of decoder pre-roll. Channels are
 * averaged with equal weights (a mono downmix that cannot clip), then
 * resampled by libswresample with its default filter. Fails (AED_EMEDIA) on:
 * no audio stream, unreadable or corrupt data, a decode error, no samples in
 * the range, or a file whose size or mtime changes while it is decoded (still
 * being written). *samples is NULL and *n 0 on failure. */
int aed_decode_range(const char *path, double start_s, double dur_s, int rate,
		     float **samples, size_t *n);

/* What aed_decode_range_info() reports about the source. */
struct aed_media_info {
	int sample_rate;        /* Hz, of the decoded audio stream */
	int channels;
	char codec[32];         /* FFmpeg codec name: "aac", "opus", "mp3" */
	double duration_s;      /* of the container, -1 if unknown */
};

/* aed_decode_range() that also fills *info (may be NULL). */
int aed_decode_range_info(const char *path, double start_s, double dur_s, int rate,
			  float **samples, size_t *n, struct aed_media_info *info);

/* --- log-mel ----------------------------------------------------------------- */

enum aed_preset { AED_PRESET_YAMNET, AED_PRESET_VGGISH };

/* log-mel of mono 16 kHz samples: *frames x 64 floats (malloc'd), frames = 1 +
 * (n-400)/160, 0 if n < 400 (then *out is NULL). Thread-safe (FFTW planning
 * serialised, plans cached per thread).
 * Exactly VGGish's mel_features.py: frames of 400 samples every 160 without
 * padding, periodic Hann window, |rfft| with 512 points (257 bins), the
 * 64-band HTK-mel matrix 125-7500 Hz (edges evenly spaced in mel, triangular
 * weights, DC bin zeroed) applied as sparse band sums, log(mel + offset) with
 * offset 0.001 (yamnet) or 0.01 (vggish). Row-major [frame][band]. The window
 * and FFT run in double precision (FFTW's double library): within 1e-6 of a
 * float64 NumPy implementation in the log domain, also on loud frames with
 * near-empty bands, where a single-precision FFT misses by over 1e-3. */
int aed_logmel(const float *x, size_t n, enum aed_preset preset, float **out, size_t *frames);

/* log(0 + offset): the value of silence for the preset. */
float aed_logmel_floor(enum aed_preset preset);

/* 96-frame patches every 48 (yamnet) / 96 (vggish) frames.
 * vggish: as vggish_input.py, whole patches only: frames < 96 gives 0.
 * yamnet: as YAMNet's features.py, which pads the waveform so that one patch
 * exists and every frame is covered: 1 + ceil((frames - 96) / 48) patches for
 * frames >= 96, 1 for 0 < frames < 96, 0 for frames == 0; frames past the end
 * read as silence (aed_logmel_floor). */
size_t aed_patch_count(size_t frames, enum aed_preset preset);

/* Samples of a stored clip that its log-mel covers: the n_real real samples
 * padded as YAMNet's features.py pads a waveform (to at least 15600 samples,
 * one 96-frame patch, then to whole 7680-sample patch hops; vggish: to at least
 * 15600), but never past the n_stored samples the clip holds. A clip's stored
 * samples past n_real are zeros, so its first aed_logmel_samples() samples are
 * exactly that padded waveform and the log-mel has aed_patch_count() = 1 +
 * ceil((n_real - 15600) / 7680) patches; a full-length clip keeps all its
 * stored samples (10 s: 998 frames, 20 patches). */
size_t aed_logmel_samples(size_t n_real, size_t n_stored, enum aed_preset preset);
/* Copy patch i (0 <= i < aed_patch_count) into patch[96 * 64], row-major. */
void aed_patch(const float *logmel, size_t frames, size_t i, enum aed_preset preset,
	       float *patch /* 96*64 */);

int aed_preset_parse(const char *name, enum aed_preset *out); /* "yamnet", "vggish" */
const char *aed_preset_name(enum aed_preset p);

/* Array kind of a preset's log-mels: "logmel_yamnet", "logmel_vggish". */
const char *aed_logmel_kind(enum aed_preset p);

/* --- WAV --------------------------------------------------------------------- */

/* Write a canonical 44-byte-header RIFF/WAVE file: PCM format 1, 16 bits,
 * `channels` interleaved, little-endian. Written to path.tmp, fsync'd, renamed. */
int aed_wav_write_s16(const char *path, const int16_t *pcm, size_t frames, int rate,
		      int channels);
/* Mono float samples in [-1,1] (clamped, rounded to int16 as clips are). */
int aed_wav_write_f32(const char *path, const float *x, size_t n, int rate);

/* Float [-1,1] to int16 clip samples: round(x * 32768) clamped to int16. */
void aed_f32_to_s16(const float *x, size_t n, int16_t *out);
void aed_s16_to_f32(const int16_t *x, size_t n, float *out);

/* --- encode (the review page's media) --------------------------------------- */

/* Encode mono float samples in [-1, 1] at `rate` Hz (8000, 12000, 16000,
 * 24000 or 48000) as Opus in an Ogg file (libopus through libavcodec), at
 * bitrate bit/s. Written to path.tmp and renamed. */
int aed_encode_opus_ogg(const char *path, const float *x, size_t n, int rate, int bitrate);

/* Write an 8-bit RGB image (rows top to bottom, 3 bytes per pixel) as PNG
 * (libavcodec's encoder). Written to path.tmp and renamed. */
int aed_encode_png_rgb(const char *path, const uint8_t *rgb, int width, int height);

#endif
