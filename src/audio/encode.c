/* encode.c - writing media with libavcodec for the review page: mono clips
 * as Opus in Ogg (plays in Chromium and Firefox) and spectrogram images as
 * PNG. Decoding is decode.c's business, not this file's. */
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/audio.h"

static int av_fail(int ret, const char *path, const char *what)
{
	char msg[AV_ERROR_MAX_STRING_SIZE] = "";

	av_strerror(ret, msg, sizeof msg);
	return aed_error(AED_EMEDIA, "%s: %s: %s", path, what, msg);
}

/* Send one frame (NULL: flush) and write every packet the encoder gives. */
static int drain(AVCodecContext *enc, AVFormatContext *fmt, AVStream *st, AVFrame *frame,
		 AVPacket *pkt, const char *path)
{
	int ret = avcodec_send_frame(enc, frame);

	if (ret < 0)
		return av_fail(ret, path, "encoding");
	for (;;) {
		ret = avcodec_receive_packet(enc, pkt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return AED_OK;
		if (ret < 0)
			return av_fail(ret, path, "encoding");
		av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
		pkt->stream_index = st->index;
		ret = av_interleaved_write_frame(fmt, pkt);
		av_packet_unref(pkt);
		if (ret < 0)
			return av_fail(ret, path, "writing");
	}
}

int aed_encode_opus_ogg(const char *path, const float *x, size_t n, int rate, int bitrate)
{
	const AVCodec *codec = avcodec_find_encoder_by_name("libopus");
	AVCodecContext *enc = NULL;
	AVFormatContext *fmt = NULL;
	AVFrame *frame = NULL;
	AVPacket *pkt = NULL;
	AVStream *st;
	AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
	char *tmp = NULL;
	int rc = AED_OK, ret, header_written = 0, io_open = 0;
	size_t pos = 0, k;
	int64_t pts = 0;

	if (!codec)
		return aed_error(AED_EMEDIA, "%s: this FFmpeg has no libopus encoder", path);
	if (rate != 8000 && rate != 12000 && rate != 16000 && rate != 24000 && rate != 48000)
		return aed_error(AED_EINTERNAL, "%s: Opus cannot encode %d Hz", path, rate);
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	if ((ret = avformat_alloc_output_context2(&fmt, NULL, "ogg", tmp)) < 0 || !fmt) {
		rc = av_fail(ret, path, "creating an Ogg muxer");
		goto out;
	}
	if (!(enc = avcodec_alloc_context3(codec)) || !(pkt = av_packet_alloc()) ||
	    !(frame = av_frame_alloc())) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	enc->sample_rate = rate;
	enc->sample_fmt = AV_SAMPLE_FMT_FLT;
	enc->bit_rate = bitrate > 0 ? bitrate : 32000;
	enc->time_base = (AVRational){ 1, rate };
	av_channel_layout_copy(&enc->ch_layout, &mono);
	if (fmt->oformat->flags & AVFMT_GLOBALHEADER)
		enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	if ((ret = avcodec_open2(enc, codec, NULL)) < 0) {
		rc = av_fail(ret, path, "opening the Opus encoder");
		goto out;
	}
	if (!(st = avformat_new_stream(fmt, NULL))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	st->time_base = enc->time_base;
	if ((ret = avcodec_parameters_from_context(st->codecpar, enc)) < 0) {
		rc = av_fail(ret, path, "stream parameters");
		goto out;
	}
	if ((ret = avio_open(&fmt->pb, tmp, AVIO_FLAG_WRITE)) < 0) {
		rc = av_fail(ret, tmp, "creating the file");
		goto out;
	}
	io_open = 1;
	if ((ret = avformat_write_header(fmt, NULL)) < 0) {
		rc = av_fail(ret, path, "writing the Ogg header");
		goto out;
	}
	header_written = 1;
	frame->format = AV_SAMPLE_FMT_FLT;
	frame->sample_rate = rate;
	frame->nb_samples = enc->frame_size;
	av_channel_layout_copy(&frame->ch_layout, &mono);
	if ((ret = av_frame_get_buffer(frame, 0)) < 0) {
		rc = av_fail(ret, path, "allocating a frame");
		goto out;
	}
	/* Opus frames have a fixed size; the last one is padded with silence
	 * (the Ogg end granule still marks the real end). */
	while (pos < n) {
		size_t take = n - pos < (size_t)enc->frame_size ? n - pos : (size_t)enc->frame_size;
		float *d;

		if ((ret = av_frame_make_writable(frame)) < 0) {
			rc = av_fail(ret, path, "frame");
			goto out;
		}
		d = (float *)frame->data[0];
		for (k = 0; k < take; k++)
			d[k] = x[pos + k] > 1.0f ? 1.0f : x[pos + k] < -1.0f ? -1.0f : x[pos + k];
		for (; k < (size_t)enc->frame_size; k++)
			d[k] = 0.0f;
		frame->pts = pts;
		pts += enc->frame_size;
		pos += take;
		if ((rc = drain(enc, fmt, st, frame, pkt, path)))
			goto out;
	}
	if ((rc = drain(enc, fmt, st, NULL, pkt, path)))
		goto out;
	if ((ret = av_write_trailer(fmt)) < 0) {
		rc = av_fail(ret, path, "finishing the Ogg file");
		goto out;
	}
	header_written = 0;
	ret = avio_closep(&fmt->pb);
	io_open = 0;
	if (ret < 0) {
		rc = av_fail(ret, tmp, "closing");
		goto out;
	}
	if (rename(tmp, path) != 0)
		rc = aed_error(AED_EIO, "%s: rename: %s", path, strerror(errno));
out:
	if (fmt && header_written)
		av_write_trailer(fmt);
	if (fmt && io_open)
		avio_closep(&fmt->pb);
	if (rc && tmp)
		unlink(tmp);
	avformat_free_context(fmt);
	avcodec_free_context(&enc);
	av_frame_free(&frame);
	av_packet_free(&pkt);
	free(tmp);
	return rc;
}

int aed_encode_png_rgb(const char *path, const uint8_t *rgb, int width, int height)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
	AVCodecContext *enc = NULL;
	AVFrame *frame = NULL;
	AVPacket *pkt = NULL;
	FILE *f = NULL;
	char *tmp = NULL;
	int rc = AED_OK, ret, y;

	if (!codec)
		return aed_error(AED_EMEDIA, "%s: this FFmpeg has no PNG encoder", path);
	if (width <= 0 || height <= 0)
		return aed_error(AED_EINTERNAL, "%s: empty image %dx%d", path, width, height);
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	if (!(enc = avcodec_alloc_context3(codec)) || !(pkt = av_packet_alloc()) ||
	    !(frame = av_frame_alloc())) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	enc->width = width;
	enc->height = height;
	enc->pix_fmt = AV_PIX_FMT_RGB24;
	enc->time_base = (AVRational){ 1, 1 };
	if ((ret = avcodec_open2(enc, codec, NULL)) < 0) {
		rc = av_fail(ret, path, "opening the PNG encoder");
		goto out;
	}
	frame->format = AV_PIX_FMT_RGB24;
	frame->width = width;
	frame->height = height;
	if ((ret = av_frame_get_buffer(frame, 0)) < 0) {
		rc = av_fail(ret, path, "allocating an image");
		goto out;
	}
	for (y = 0; y < height; y++)
		memcpy(frame->data[0] + (size_t)y * frame->linesize[0], rgb + (size_t)y * width * 3,
		       (size_t)width * 3);
	frame->pts = 0;
	if ((ret = avcodec_send_frame(enc, frame)) < 0 || (ret = avcodec_send_frame(enc, NULL)) < 0) {
		rc = av_fail(ret, path, "encoding PNG");
		goto out;
	}
	if (!(f = fopen(tmp, "wb"))) {
		rc = aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while ((ret = avcodec_receive_packet(enc, pkt)) >= 0) {
		size_t want = (size_t)pkt->size, w = fwrite(pkt->data, 1, want, f);

		av_packet_unref(pkt);
		if (w != want) {
			rc = aed_error(AED_EIO, "%s: write failed", tmp);
			goto out;
		}
	}
	if (ret != AVERROR_EOF) {
		rc = av_fail(ret, path, "encoding PNG");
		goto out;
	}
	ret = fclose(f);
	f = NULL;
	if (ret != 0) {
		rc = aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0)
		rc = aed_error(AED_EIO, "%s: rename: %s", path, strerror(errno));
out:
	if (f)
		fclose(f);
	if (rc && tmp)
		unlink(tmp);
	avcodec_free_context(&enc);
	av_frame_free(&frame);
	av_packet_free(&pkt);
	free(tmp);
	return rc;
}
