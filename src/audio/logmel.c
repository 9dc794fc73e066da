/* logmel.c - the AudioSet (VGGish/YAMNet) log-mel front end on FFTW3: periodic
 * Hann frames, 512-point real FFT magnitude, 64 HTK-mel band sums, log.
 * Not the decoder (decode.c) and not the embedding model.
 *
 * Precision: the window and the FFT run in double. In single precision the
 * FFT's rounding error is relative to the whole frame, and a loud frame with
 * an almost empty band (AAC's low-pass, say) then misses log(mel + 0.001) by
 * more than 1e-3 (1.8e-3 on a real AudioSet clip). Magnitudes are exact to
 * float's relative precision per bin, so the mel sums and log run in float. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "aedcurate/audio.h"
#include "aedcurate/error.h"

#define N_BINS (AED_FFT_SIZE / 2 + 1) /* 257 spectrogram bins, 0..8000 Hz */

/* Double precision: in single precision the FFT's rounding scales with the
 * whole frame, which moved loud frames' near-empty bands by up to 1.8e-3 in
 * the log domain against the published front end. */
/* One mel band as the sparse row it is: weights of bins [lo, lo + n). */
struct mel_band {
	int lo, n;
	float w[N_BINS];
};

static struct {
	double window[AED_STFT_WINDOW];
	struct mel_band band[AED_MEL_BANDS];
} tables;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* FFTW's planner is not thread-safe; execution of a plan is. */
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t fft_key;
static pthread_once_t fft_key_once = PTHREAD_ONCE_INIT;

/* A thread's plan and the buffers it was made for. */
struct fft_ctx {
	fftw_plan plan;
	double *in;             /* AED_FFT_SIZE */
	fftw_complex *out;      /* N_BINS */
};

static double hz_to_mel(double hz)
{
	return 1127.0 * log(1.0 + hz / 700.0);
}

/* mel_features.py: spectrogram_to_mel_matrix(64, 257, 16000, 125, 7500). */
static void make_tables(void)
{
	for (int i = 0; i < AED_STFT_WINDOW; i++)
		tables.window[i] = 0.5 - 0.5 * cos(2.0 * M_PI / AED_STFT_WINDOW * i);
	double bin_mel[N_BINS], edge[AED_MEL_BANDS + 2];
	for (int k = 0; k < N_BINS; k++)
		bin_mel[k] = hz_to_mel((AED_SAMPLE_RATE / 2.0) * k / (N_BINS - 1));
	double lo_mel = hz_to_mel(AED_MEL_LOW_HZ), hi_mel = hz_to_mel(AED_MEL_HIGH_HZ);
	for (int i = 0; i < AED_MEL_BANDS + 2; i++)
		edge[i] = lo_mel + (hi_mel - lo_mel) * i / (AED_MEL_BANDS + 1);
	for (int b = 0; b < AED_MEL_BANDS; b++) {
		struct mel_band *mb = &tables.band[b];
		mb->lo = -1;
		mb->n = 0;
		for (int k = 1; k < N_BINS; k++) { /* bin 0 (DC) is zeroed */
			double lower = (bin_mel[k] - edge[b]) / (edge[b + 1] - edge[b]);
			double upper = (edge[b + 2] - bin_mel[k]) / (edge[b + 2] - edge[b + 1]);
			double w = fmax(0.0, fmin(lower, upper));
			if (w <= 0.0)
				continue;
			if (mb->lo < 0)
				mb->lo = k;
			mb->n = k - mb->lo + 1;
			mb->w[k - mb->lo] = (float)w;
		}
		if (mb->lo < 0)
			mb->lo = 0;
	}
}

static void fft_ctx_free(void *p)
{
	struct fft_ctx *c = p;
	if (!c)
		return;
	pthread_mutex_lock(&plan_lock);
	if (c->plan)
		fftw_destroy_plan(c->plan);
	pthread_mutex_unlock(&plan_lock);
	if (c->in)
		fftw_free(c->in);
	if (c->out)
		fftw_free(c->out);
	free(c);
}

static void make_key(void)
{
	pthread_key_create(&fft_key, fft_ctx_free);
}

/* This thread's plan, made on first use. FFTW_ESTIMATE, not FFTW_MEASURE:
 * a measured plan is whichever algorithm ran fastest while planning, which
 * changes with the machine's load, and another algorithm rounds differently,
 * so log-mels (and all that follows) would depend on load. An estimated
 * plan is a function of the size and the CPU only. */
static int thread_fft(struct fft_ctx **out)
{
	pthread_once(&fft_key_once, make_key);
	struct fft_ctx *c = pthread_getspecific(fft_key);
	if (c) {
		*out = c;
		return AED_OK;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return aed_error(AED_ENOMEM, "log-mel: out of memory");
	c->in = fftw_malloc(AED_FFT_SIZE * sizeof *c->in);
	c->out = fftw_malloc(N_BINS * sizeof *c->out);
	if (c->in && c->out) {
		pthread_mutex_lock(&plan_lock);
		c->plan = fftw_plan_dft_r2c_1d(AED_FFT_SIZE, c->in, c->out, FFTW_ESTIMATE);
		pthread_mutex_unlock(&plan_lock);
	}
	if (!c->plan) {
		fft_ctx_free(c);
		return aed_error(AED_ENOMEM, "log-mel: FFTW could not plan a %d-point FFT", AED_FFT_SIZE);
	}
	if (pthread_setspecific(fft_key, c) != 0) {
		fft_ctx_free(c);
		return aed_error(AED_ENOMEM, "log-mel: out of thread-specific keys");
	}
	*out = c;
	return AED_OK;
}

/* The two inner loops, written so that they vectorise: no aliasing, and the
 * magnitudes four bins at a time with SSE2 where there is SSE2 (a plain sqrt
 * loop does not vectorise because sqrt may set errno). */
static void window_frame(const float *restrict s, double *restrict in)
{
	const double *restrict w = tables.window;
	for (int i = 0; i < AED_STFT_WINDOW; i++)
		in[i] = s[i] * w[i];
	for (int i = AED_STFT_WINDOW; i < AED_FFT_SIZE; i++)
		in[i] = 0.0;
}

static void magnitudes(const fftw_complex *restrict z, float *restrict mag)
{
	const double *restrict v = (const double *)z; /* re, im interleaved */
	int k = 0;
#ifdef __SSE2__
	/* |X|^2 summed in double, then the square root of 4 bins at once in
	 * float: a float keeps each bin to its own relative precision. */
	for (; k + 4 <= N_BINS; k += 4) {
		__m128d a = _mm_loadu_pd(v + 2 * k), b = _mm_loadu_pd(v + 2 * k + 2);
		__m128d c = _mm_loadu_pd(v + 2 * k + 4), d = _mm_loadu_pd(v + 2 * k + 6);
		a = _mm_mul_pd(a, a);
		b = _mm_mul_pd(b, b);
		c = _mm_mul_pd(c, c);
		d = _mm_mul_pd(d, d);
		__m128 p01 = _mm_cvtpd_ps(_mm_add_pd(_mm_unpacklo_pd(a, b), _mm_unpackhi_pd(a, b)));
		__m128 p23 = _mm_cvtpd_ps(_mm_add_pd(_mm_unpacklo_pd(c, d), _mm_unpackhi_pd(c, d)));
		_mm_storeu_ps(mag + k, _mm_sqrt_ps(_mm_movelh_ps(p01, p23)));
	}
#endif
	for (; k < N_BINS; k++)
		mag[k] = (float)sqrt(v[2 * k] * v[2 * k] + v[2 * k + 1] * v[2 * k + 1]);
}

static int all_zero(const float *s)
{
	for (int i = 0; i < AED_STFT_WINDOW; i++)
		if (s[i] != 0.0f)
			return 0;
	return 1;
}

static float preset_offset(enum aed_preset p)
{
	return p == AED_PRESET_VGGISH ? 0.01f : 0.001f;
}

float aed_logmel_floor(enum aed_preset preset)
{
	return logf(preset_offset(preset));
}

int aed_logmel(const float *x, size_t n, enum aed_preset preset, float **out, size_t *frames)
{
	struct fft_ctx *c = NULL;
	float mag[N_BINS];
	float offset = preset_offset(preset);

	*out = NULL;
	*frames = 0;
	if (preset != AED_PRESET_YAMNET && preset != AED_PRESET_VGGISH)
		return aed_error(AED_EUSAGE, "log-mel: unknown preset %d", (int)preset);
	if (n < AED_STFT_WINDOW)
		return AED_OK;
	pthread_once(&tables_once, make_tables);
	int rc = thread_fft(&c);
	if (rc)
		return rc;
	size_t nf = 1 + (n - AED_STFT_WINDOW) / AED_STFT_HOP;
	float *y = malloc(nf * AED_MEL_BANDS * sizeof *y);
	if (!y)
		return aed_error(AED_ENOMEM, "log-mel: out of memory for %zu frames", nf);
	float silence = logf(offset);
	for (size_t f = 0; f < nf; f++) {
		float *row = y + f * AED_MEL_BANDS;
		if (all_zero(x + f * AED_STFT_HOP)) { /* a clip's padding: exactly log(offset) */
			for (int b = 0; b < AED_MEL_BANDS; b++)
				row[b] = silence;
			continue;
		}
		window_frame(x + f * AED_STFT_HOP, c->in);
		fftw_execute(c->plan);
		magnitudes(c->out, mag);
		for (int b = 0; b < AED_MEL_BANDS; b++) {
			const struct mel_band *mb = &tables.band[b];
			const float *m = mag + mb->lo;
			float acc = 0.0f;
			for (int k = 0; k < mb->n; k++)
				acc += mb->w[k] * m[k];
			row[b] = logf(acc + offset);
		}
	}
	*out = y;
	*frames = nf;
	return AED_OK;
}

static size_t patch_hop(enum aed_preset p)
{
	return p == AED_PRESET_VGGISH ? AED_PATCH_FRAMES : AED_PATCH_FRAMES / 2;
}

size_t aed_patch_count(size_t frames, enum aed_preset preset)
{
	size_t hop = patch_hop(preset);
	if (preset == AED_PRESET_VGGISH)
		return frames < AED_PATCH_FRAMES ? 0 : 1 + (frames - AED_PATCH_FRAMES) / hop;
	if (frames == 0)
		return 0;
	if (frames <= AED_PATCH_FRAMES)
		return 1;
	return 1 + (frames - AED_PATCH_FRAMES + hop - 1) / hop;
}

size_t aed_logmel_samples(size_t n_real, size_t n_stored, enum aed_preset preset)
{
	/* one patch: 96 frames of 400 samples every 160 */
	const size_t one = (AED_PATCH_FRAMES - 1) * AED_STFT_HOP + AED_STFT_WINDOW;
	const size_t hop = patch_hop(AED_PRESET_YAMNET) * AED_STFT_HOP; /* 7680 */
	size_t n = n_real < one ? one : n_real;
	if (preset == AED_PRESET_YAMNET)
		n = one + (n - one + hop - 1) / hop * hop;
	return n < n_stored ? n : n_stored;
}

void aed_patch(const float *logmel, size_t frames, size_t i, enum aed_preset preset, float *patch)
{
	size_t first = i * patch_hop(preset);
	size_t have = first < frames ? frames - first : 0;
	if (have > AED_PATCH_FRAMES)
		have = AED_PATCH_FRAMES;
	if (have)
		memcpy(patch, logmel + first * AED_MEL_BANDS, have * AED_MEL_BANDS * sizeof *patch);
	float floor_v = aed_logmel_floor(preset);
	for (size_t j = have * AED_MEL_BANDS; j < AED_PATCH_FRAMES * AED_MEL_BANDS; j++)
		patch[j] = floor_v;
}

int aed_preset_parse(const char *name, enum aed_preset *out)
{
	if (name && strcmp(name, "yamnet") == 0)
		*out = AED_PRESET_YAMNET;
	else if (name && strcmp(name, "vggish") == 0)
		*out = AED_PRESET_VGGISH;
	else
		return aed_error(AED_EUSAGE, "unknown preset '%s' (expected yamnet or vggish)",
				 name ? name : "");
	return AED_OK;
}

const char *aed_preset_name(enum aed_preset p)
{
	return p == AED_PRESET_VGGISH ? "vggish" : "yamnet";
}

const char *aed_logmel_kind(enum aed_preset p)
{
	return p == AED_PRESET_VGGISH ? "logmel_vggish" : "logmel_yamnet";
}
