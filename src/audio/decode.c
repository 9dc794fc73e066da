/* decode.c - FFmpeg in-process: open any container, seek, decode, cut a time
 * range sample-accurately, downmix to mono and resample with libswresample.
 * Not the decode stage (src/stage/decode.c), which stores what this returns. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"

#define PREROLL_S 0.2           /* decoder warm-up before the cut: AAC/Opus need overlap */
#define LEAD_OUT 1600           /* output samples resampled before the cut and dropped */
#define TAIL_IN 256             /* source samples fed past the cut so its end is not an edge */
#define MAX_DECODE_S (6 * 3600) /* refuse to hold more than 6 h of audio in memory */
#define MAX_CHANNELS 64
#define TRUNCATED_SLACK_S 0.5   /* audio may end this much before the declared duration */

/* FFmpeg logs through av_log; library code must not print, so the last
 * error-level line of this thread is kept to enrich the error message. */
static _Thread_local char av_last_line[256];
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void av_log_keep(void *avcl, int level, const char *fmt, va_list vl)
{
	if (level > AV_LOG_ERROR)
		return;
	char line[256];
	int print_prefix = 1;
	av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n > 0)
		memcpy(av_last_line, line, n + 1);
}

static void av_log_setup(void)
{
	av_log_set_callback(av_log_keep);
}

/* Record "path: what: ffmpeg error text (last av_log line)". */
static int media_error(const char *path, const char *what, int averr)
{
	char buf[AV_ERROR_MAX_STRING_SIZE] = "";
	if (averr < 0)
		av_strerror(averr, buf, sizeof buf);
	if (av_last_line[0])
		return aed_error(AED_EMEDIA, "%s: %s%s%s (%s)", path, what, buf[0] ? ": " : "", buf,
				 av_last_line);
	return aed_error(AED_EMEDIA, "%s: %s%s%s", path, what, buf[0] ? ": " : "", buf);
}

struct dec {
	const char *path;
	AVFormatContext *fmt;
	AVCodecContext *cc;
	SwrContext *swr;
	AVPacket *pkt;
	AVFrame *fr;
	int si;                 /* audio stream index */
	double tb;              /* s per stream time-base tick */
	double t_start;         /* s, first wanted instant in stream time */
	double fmt_start;       /* s, the container's start: output sample k is at fmt_start + k / rate */
	int64_t out_start;      /* output sample index of the cut's first sample */
	int64_t out_len;        /* output samples wanted; -1 = to the end */
	int64_t feed_from;      /* source sample index (from fmt_start) the resampler starts at */
	int64_t drop_out;       /* output samples before the cut, dropped at the end */
	int aligned;            /* feed_from and drop_out are set */
	int64_t next_idx;       /* source index of the next frame's first sample; -1 unknown */
	int seek_landed;        /* decoding starts after a seek, not at the first sample */
	int64_t want_in;        /* source samples to feed; -1 = to the end */
	int64_t fed_in;         /* source samples given to the resampler */
	int started;            /* the first wanted sample has been fed */
	int seeked;             /* a seek happened and its landing is not checked yet */
	int rewound;            /* fell back to decoding from the start */
	double next_t;          /* s, time of the next frame when it carries no pts */
	double t0;              /* s, the stream's first instant */
	int in_rate, in_ch, in_fmt; /* what the resampler was set up for */
	int rate;               /* Hz, output */
	int64_t max_out;        /* output samples cap */
	float *out;
	size_t n, cap;          /* output samples held / allocated */
	struct aed_media_info info;
};

static int out_reserve(struct dec *d, size_t more)
{
	if (d->n + more <= d->cap)
		return AED_OK;
	size_t cap = d->cap ? d->cap : 16384;
	while (cap < d->n + more)
		cap *= 2;
	float *p = realloc(d->out, cap * sizeof *p);
	if (!p)
		return aed_error(AED_ENOMEM, "%s: out of memory for %zu samples", d->path, cap);
	d->out = p;
	d->cap = cap;
	return AED_OK;
}

/* Push in_n source samples (NULL: flush) through the resampler into d->out. */
static int resample(struct dec *d, const uint8_t **in, int in_n)
{
	for (;;) {
		int room = swr_get_out_samples(d->swr, in_n);
		if (room < 0)
			return media_error(d->path, "resampler", room);
		room += 64;
		int rc = out_reserve(d, (size_t)room);
		if (rc)
			return rc;
		uint8_t *o = (uint8_t *)(d->out + d->n);
		int got = swr_convert(d->swr, &o, room, in, in_n);
		if (got < 0)
			return media_error(d->path, "resampling", got);
		d->n += (size_t)got;
		if ((int64_t)d->n > d->max_out)
			return aed_error(AED_ENOMEM, "%s: more than %d s of audio", d->path, MAX_DECODE_S);
		if (in || got == 0)
			return AED_OK;
		/* flushing: repeat until the resampler is empty */
	}
}

/* (Re)build the resampler for the frame's format: equal-weight downmix of all
 * channels, conversion to packed float, rate conversion. */
static int setup_swr(struct dec *d, const AVFrame *f)
{
	int rc = AED_OK, ret;
	int nch = f->ch_layout.nb_channels;
	double *matrix = NULL;
	AVChannelLayout in_lay = { 0 }, out_lay = AV_CHANNEL_LAYOUT_MONO;

	if (nch <= 0 || nch > MAX_CHANNELS)
		return aed_error(AED_EMEDIA, "%s: unsupported channel count %d", d->path, nch);
	if (f->sample_rate <= 0)
		return aed_error(AED_EMEDIA, "%s: invalid sample rate %d", d->path, f->sample_rate);
	if (d->swr) {
		rc = resample(d, NULL, 0); /* drain the old configuration first */
		if (rc)
			return rc;
		swr_free(&d->swr);
	}
	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
		av_channel_layout_default(&in_lay, nch);
	else if ((ret = av_channel_layout_copy(&in_lay, &f->ch_layout)) < 0)
		return media_error(d->path, "channel layout", ret);
	ret = swr_alloc_set_opts2(&d->swr, &out_lay, AV_SAMPLE_FMT_FLT, d->rate, &in_lay,
				  f->format, f->sample_rate, 0, NULL);
	if (ret < 0) {
		rc = media_error(d->path, "resampler set-up", ret);
		goto out;
	}
	matrix = malloc((size_t)nch * sizeof *matrix);
	if (!matrix) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", d->path);
		goto out;
	}
	for (int c = 0; c < nch; c++)
		matrix[c] = 1.0 / nch;
	if ((ret = swr_set_matrix(d->swr, matrix, nch)) < 0 || (ret = swr_init(d->swr)) < 0) {
		rc = media_error(d->path, "resampler set-up", ret);
		goto out;
	}
	d->in_rate = f->sample_rate;
	d->in_ch = nch;
	d->in_fmt = f->format;
	if (!d->info.sample_rate) {
		d->info.sample_rate = f->sample_rate;
		d->info.channels = nch;
	}
out:
	free(matrix);
	av_channel_layout_uninit(&in_lay);
	return rc;
}

static int rewind_to_start(struct dec *d)
{
	int64_t ts = d->fmt->start_time != AV_NOPTS_VALUE ? d->fmt->start_time : 0;
	int ret = avformat_seek_file(d->fmt, -1, INT64_MIN, ts, ts, 0);
	if (ret < 0)
		ret = av_seek_frame(d->fmt, d->si, INT64_MIN, AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
	if (ret < 0)
		return media_error(d->path, "seeking back to the start", ret);
	avcodec_flush_buffers(d->cc);
	d->rewound = 1;
	d->seeked = 0;
	d->next_t = d->t0;
	d->next_idx = -1;
	d->seek_landed = 0;
	return AED_OK;
}

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Start the resampler on a source sample that falls exactly on the output
 * grid of the whole file (output sample k at fmt_start + k / rate), some
 * LEAD_OUT samples before the cut: the clip is then what resampling the
 * whole file and cutting it would give (what `ffmpeg -i F -ss S` gives),
 * with no sub-sample shift and no filter edge at its start. */
static void align_cut(struct dec *d, int in_rate)
{
	int64_t g = d->rate / gcd64(d->rate, in_rate); /* output grid step that hits a source sample */
	int64_t k = d->out_start - LEAD_OUT;
	k = k < 0 ? 0 : k / g * g;
	d->feed_from = k * in_rate / d->rate;
	d->drop_out = d->out_start - k;
	if (d->out_len >= 0)
		d->want_in = (d->drop_out + d->out_len) * in_rate / d->rate + 1 + TAIL_IN;
	d->aligned = 1;
}

/* What the reader does after a frame: go on, stop (range complete), or go on
 * after a rewind to the start (the seek overshot). */
enum { FEED_MORE = 0, FEED_STOP = -1, FEED_REWOUND = -2 };

static int feed_frame(struct dec *d, AVFrame *f, int *action)
{
	int rc;
	*action = FEED_MORE;
	if (f->decode_error_flags || (f->flags & AV_FRAME_FLAG_CORRUPT))
		return aed_error(AED_EMEDIA, "%s: corrupt audio frame (decode error flags %#x)",
				 d->path, (unsigned)f->decode_error_flags);
	if (f->nb_samples <= 0)
		return AED_OK;
	int64_t pts = f->best_effort_timestamp;
	double t = pts != AV_NOPTS_VALUE ? (double)pts * d->tb : d->next_t;
	int nb = f->nb_samples;
	double frame_s = (double)nb / f->sample_rate;
	d->next_t = t + frame_s;

	if (d->seeked) {
		d->seeked = 0;
		/* A seek by estimate (MP3 without a table) may land past the start:
		 * then decode from the beginning instead. */
		double t_feed = d->t_start - (double)LEAD_OUT / d->rate;
		if (!d->rewound && pts != AV_NOPTS_VALUE && t > d->fmt_start && t > t_feed) {
			if ((rc = rewind_to_start(d)))
				return rc;
			*action = FEED_REWOUND;
			return AED_OK;
		}
	}
	if (!d->swr || f->sample_rate != d->in_rate || f->ch_layout.nb_channels != d->in_ch ||
	    f->format != d->in_fmt)
		if ((rc = setup_swr(d, f)))
			return rc;

	int64_t skip = 0;
	if (!d->started) {
		if (!d->aligned)
			align_cut(d, f->sample_rate);
		/* The source index of the frame: from the first frame's time (after
		 * the start or a seek), then by counting samples, so coarse or
		 * jittery packet times (Matroska's milliseconds) do not move it. */
		if (d->next_idx < 0) /* decoding from the start: the first sample is index 0 */
			d->next_idx = d->seek_landed ? llround((t - d->fmt_start) * f->sample_rate) : 0;
		int64_t first = d->next_idx;
		d->next_idx += nb;
		if (first + nb <= d->feed_from)
			return AED_OK; /* wholly before the range */
		if (first < d->feed_from)
			skip = d->feed_from - first;
		d->started = 1;
	}
	int64_t take = nb - skip;
	if (d->want_in >= 0 && d->fed_in + take > d->want_in)
		take = d->want_in - d->fed_in;
	if (take > 0) {
		const uint8_t *in[MAX_CHANNELS];
		int bps = av_get_bytes_per_sample(f->format);
		if (av_sample_fmt_is_planar(f->format)) {
			for (int c = 0; c < d->in_ch; c++)
				in[c] = f->extended_data[c] + skip * bps;
		} else {
			in[0] = f->extended_data[0] + skip * bps * d->in_ch;
		}
		if ((rc = resample(d, in, (int)take)))
			return rc;
		d->fed_in += take;
	}
	if (d->want_in >= 0 && d->fed_in >= d->want_in)
		*action = FEED_STOP;
	return AED_OK;
}

/* Receive every frame the decoder has ready. */
static int drain_decoder(struct dec *d, int *action)
{
	for (;;) {
		int ret = avcodec_receive_frame(d->cc, d->fr);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return AED_OK;
		if (ret < 0)
			return media_error(d->path, "decoding", ret);
		int rc = feed_frame(d, d->fr, action);
		av_frame_unref(d->fr);
		if (rc || *action != FEED_MORE)
			return rc;
	}
}

static int open_input(struct dec *d)
{
	int ret;
	const AVCodec *codec = NULL;

	if ((ret = avformat_open_input(&d->fmt, d->path, NULL, NULL)) < 0)
		return media_error(d->path, "cannot open", ret);
	if ((ret = avformat_find_stream_info(d->fmt, NULL)) < 0)
		return media_error(d->path, "cannot read stream info", ret);
	ret = av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
	if (ret == AVERROR_STREAM_NOT_FOUND)
		return aed_error(AED_EMEDIA, "%s: no audio stream", d->path);
	if (ret == AVERROR_DECODER_NOT_FOUND)
		return media_error(d->path, "no decoder for the audio stream", ret);
	if (ret < 0)
		return media_error(d->path, "finding the audio stream", ret);
	d->si = ret;
	AVStream *st = d->fmt->streams[d->si];
	for (unsigned i = 0; i < d->fmt->nb_streams; i++)
		if ((int)i != d->si)
			d->fmt->streams[i]->discard = AVDISCARD_ALL;
	d->tb = av_q2d(st->time_base);
	if (!(d->cc = avcodec_alloc_context3(codec)))
		return aed_error(AED_ENOMEM, "%s: out of memory", d->path);
	if ((ret = avcodec_parameters_to_context(d->cc, st->codecpar)) < 0)
		return media_error(d->path, "codec parameters", ret);
	d->cc->pkt_timebase = st->time_base;
	d->cc->thread_count = 1; /* parallelism is across clips */
	if ((ret = avcodec_open2(d->cc, codec, NULL)) < 0)
		return media_error(d->path, "cannot open decoder", ret);
	snprintf(d->info.codec, sizeof d->info.codec, "%s", avcodec_get_name(st->codecpar->codec_id));
	d->info.duration_s = d->fmt->duration != AV_NOPTS_VALUE ? d->fmt->duration / (double)AV_TIME_BASE : -1;
	return AED_OK;
}

/* 1 when path is a RIFF/WAVE file whose data chunk states 0xFFFFFFFF bytes:
 * the length a writer that cannot seek back puts there (`ffmpeg -f wav -`),
 * meaning "until the end of the file". RF64 is not this: it states its real
 * sizes in a ds64 chunk. */
static int wav_length_unknown(const char *path)
{
	unsigned char b[12];
	int found = 0;
	FILE *f = fopen(path, "rb");

	if (!f)
		return 0;
	if (fread(b, 1, 12, f) != 12 || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4))
		goto out;
	for (int i = 0; i < 64 && fread(b, 1, 8, f) == 8; i++) { /* chunks before the data */
		uint32_t size = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
				(uint32_t)b[7] << 24;

		if (!memcmp(b, "data", 4)) {
			found = size == 0xFFFFFFFFu;
			break;
		}
		if (fseek(f, (long)size + (size & 1), SEEK_CUR) != 0)
			break;
	}
out:
	fclose(f);
	return found;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

/* Feed the stream's packets to the decoder until drain_decoder says the
 * range is complete (or the file ends: *eof). Refuses damaged packets. */
static int read_packets(struct dec *d, AVStream *s, int open_end, int *eof)
{
	int rc, ret, action = FEED_MORE;

	int had_short = 0;       /* a short packet was fed: it must be the last */
	int64_t short_pos = -1;
	while (action != FEED_STOP) {
		ret = av_read_frame(d->fmt, d->pkt);
		if (ret == AVERROR_EOF) {
			*eof = 1;
			break;
		}
		if (ret < 0) {
			rc = media_error(d->path, "reading", ret);
			return rc;
		}
		if (d->pkt->stream_index != d->si) {
			av_packet_unref(d->pkt);
			continue;
		}
		/* The demuxer flags a packet corrupt when the read came up short. A
		 * WAV written to a pipe (`ffmpeg -f wav -`) states 0xFFFFFFFF bytes,
		 * "until the end", so its last packet is always short and FFmpeg
		 * decodes it with a warning: it is fed, less a partial sample frame
		 * at its end-> A packet after it is damage, and so is a short packet
		 * anywhere else: a WAV that states its length and is cut short of it
		 * is truncated (FFmpeg would decode what is there). */
		if (had_short || ((d->pkt->flags & AV_PKT_FLAG_CORRUPT) && !open_end)) {
			rc = aed_error(AED_EMEDIA, "%s: corrupt or truncated packet at byte %lld", d->path,
				       (long long)(had_short ? short_pos : d->pkt->pos));
			return rc;
		}
		if (d->pkt->flags & AV_PKT_FLAG_CORRUPT) {
			int align = s->codecpar->block_align;

			had_short = 1;
			short_pos = d->pkt->pos;
			if (align > 0) /* the decoder refuses less than one sample frame */
				d->pkt->size -= d->pkt->size % align;
			if (d->pkt->size == 0) {
				av_packet_unref(d->pkt);
				continue;
			}
		}
		ret = avcodec_send_packet(d->cc, d->pkt);
		av_packet_unref(d->pkt);
		if (ret < 0 && ret != AVERROR(EAGAIN)) {
			rc = media_error(d->path, "decoding", ret);
			return rc;
		}
		if ((rc = drain_decoder(d, &action)))
			return rc;
		if (action == FEED_REWOUND) { /* read again from the start */
			action = FEED_MORE;
			had_short = 0;
		}
	}
	return AED_OK;
}

int aed_decode_range_info(const char *path, double start_s, double dur_s, int rate,
			  float **samples, size_t *n, struct aed_media_info *info)
{
	int rc = AED_OK;
	struct dec d = { .path = path, .si = -1, .want_in = -1, .next_idx = -1 };
	struct stat st0, st1;

	*samples = NULL;
	*n = 0;
	pthread_once(&log_once, av_log_setup);
	av_last_line[0] = '\0';
	if (rate <= 0 || rate > 768000 || !isfinite(start_s) || start_s < 0 || !isfinite(dur_s))
		return aed_error(AED_EUSAGE, "%s: bad decode range (start %g s, duration %g s, %d Hz)",
				 path, start_s, dur_s, rate);
	if (stat(path, &st0) != 0)
		return aed_error(errno == ENOENT ? AED_ENOTFOUND : AED_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st0.st_mode) && !S_ISFIFO(st0.st_mode) && !S_ISCHR(st0.st_mode))
		return aed_error(AED_EMEDIA, "%s: not a regular file", path);
	if (S_ISREG(st0.st_mode) && st0.st_size == 0)
		return aed_error(AED_EMEDIA, "%s: empty file (0 bytes)", path);
	d.rate = rate;
	d.max_out = (int64_t)MAX_DECODE_S * rate;
	if (dur_s > 0 && llround(dur_s * rate) < d.max_out)
		d.max_out = llround(dur_s * rate) + 2 * rate + LEAD_OUT; /* grid lead and tail slack */

	if ((rc = open_input(&d)))
		goto out;
	if (!(d.pkt = av_packet_alloc()) || !(d.fr = av_frame_alloc())) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	double fmt_start = d.fmt->start_time != AV_NOPTS_VALUE ? d.fmt->start_time / (double)AV_TIME_BASE : 0;
	AVStream *s = d.fmt->streams[d.si];
	d.t_start = fmt_start + start_s;
	d.fmt_start = fmt_start;
	d.out_start = llround(start_s * rate);
	d.out_len = dur_s > 0 ? llround(dur_s * rate) : -1;
	d.t0 = d.next_t = s->start_time != AV_NOPTS_VALUE ? s->start_time * d.tb : fmt_start;
	/* Seek only where packet times are sample-precise (MP4, Ogg, MP3, FLAC,
	 * WAV). Matroska/WebM count milliseconds: after a seek the cut would be
	 * off by up to half a millisecond (and by the Opus pre-skip), so those
	 * are decoded from the start, as `ffmpeg -i F -ss S` does. */
	int precise = s->time_base.num > 0 && d.cc->sample_rate > 0 &&
		      (int64_t)s->time_base.num * d.cc->sample_rate <= s->time_base.den;
	if (precise && start_s > PREROLL_S + (double)LEAD_OUT / rate) {
		int64_t ts = (int64_t)((d.t_start - PREROLL_S - (double)LEAD_OUT / rate) * AV_TIME_BASE);
		if (avformat_seek_file(d.fmt, -1, INT64_MIN, ts, ts, 0) >= 0)
			d.seeked = d.seek_landed = 1;
		/* a failed seek leaves the position at the start: cutting still works */
	}

	int action = FEED_MORE, eof = 0;
	int open_end = av_get_exact_bits_per_sample(s->codecpar->codec_id) > 0 &&
		       S_ISREG(st0.st_mode) && !strcmp(d.fmt->iformat->name, "wav") &&
		       wav_length_unknown(path);
	if ((rc = read_packets(&d, s, open_end, &eof)))
		goto out;
	if (eof) {
		avcodec_send_packet(d.cc, NULL);
		if ((rc = drain_decoder(&d, &action)))
			goto out;
		/* The data ended before the range did: when the header states a
		 * duration (MP3 Xing/LAME frame count, MP4 moov) and the audio
		 * stops well short of it, the file is truncated. */
		double declared = d.fmt->duration != AV_NOPTS_VALUE ? fmt_start + d.fmt->duration / (double)AV_TIME_BASE : -1;
		if (d.fmt->duration_estimation_method == AVFMT_DURATION_FROM_STREAM && declared > 0 &&
		    d.next_t + TRUNCATED_SLACK_S < declared && (dur_s <= 0 || d.next_t < d.t_start + dur_s)) {
			rc = aed_error(AED_EMEDIA, "%s: truncated: audio ends at %.3f s, the header says %.3f s",
				       path, d.next_t - fmt_start, declared - fmt_start);
			goto out;
		}
	}
	if (!d.swr || !d.started) {
		rc = aed_error(AED_EMEDIA, "%s: no audio samples in [%.3f s, %s)", path, start_s,
			       dur_s > 0 ? "end of range" : "end of file");
		goto out;
	}
	if ((rc = resample(&d, NULL, 0)))
		goto out;
	if ((int64_t)d.n <= d.drop_out) {
		d.n = 0;
	} else if (d.drop_out > 0) {
		memmove(d.out, d.out + d.drop_out, (d.n - (size_t)d.drop_out) * sizeof *d.out);
		d.n -= (size_t)d.drop_out;
	}
	if (d.out_len >= 0 && (int64_t)d.n > d.out_len)
		d.n = (size_t)d.out_len;
	if (d.n == 0) {
		rc = aed_error(AED_EMEDIA, "%s: no audio samples in range", path);
		goto out;
	}
	for (size_t i = 0; i < d.n; i++) { /* resampling can overshoot slightly */
		float v = d.out[i];
		d.out[i] = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v != v ? 0.0f : v;
	}
	if (S_ISREG(st0.st_mode) && (stat(path, &st1) != 0 || !same_file(&st0, &st1))) {
		rc = aed_error(AED_EMEDIA, "%s: file changed while it was decoded (still being written?)", path);
		goto out;
	}
	*samples = d.out;
	*n = d.n;
	d.out = NULL;
	if (info)
		*info = d.info;
out:
	free(d.out);
	swr_free(&d.swr);
	av_frame_free(&d.fr);
	av_packet_free(&d.pkt);
	avcodec_free_context(&d.cc);
	avformat_close_input(&d.fmt);
	return rc;
}

int aed_decode_range(const char *path, double start_s, double dur_s, int rate, float **samples,
		     size_t *n)
{
	return aed_decode_range_info(path, start_s, dur_s, rate, samples, n, NULL);
}
