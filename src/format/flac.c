/* flac.c - mono 16-bit FLAC in memory with libavcodec's encoder, for shard
 * audio members. The container is written here (not by libavformat's muxer,
 * which needs a seekable output to fill in the sample count and MD5), so the
 * bytes depend only on the samples and the fixed encoder settings. */
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/flac.h"

#define FLAC_STREAMINFO 34

static int av_fail(int ret, const char *what)
{
	char msg[AV_ERROR_MAX_STRING_SIZE] = "";

	av_strerror(ret, msg, sizeof msg);
	return aed_error(AED_EMEDIA, "FLAC encoder: %s: %s", what, msg);
}

/* Move every packet the encoder has into frames; keep the final STREAMINFO. */
static int drain(AVCodecContext *c, AVPacket *pkt, struct aed_buf *frames, uint8_t *info)
{
	for (;;) {
		int ret = avcodec_receive_packet(c, pkt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return AED_OK;
		if (ret < 0)
			return av_fail(ret, "receive packet");
		size_t sz = 0;
		uint8_t *sd = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &sz);
		if (sd && sz == FLAC_STREAMINFO)
			memcpy(info, sd, FLAC_STREAMINFO);
		int rc = aed_buf_append(frames, pkt->data, (size_t)pkt->size);
		av_packet_unref(pkt);
		if (rc)
			return rc;
	}
}

int aed_flac_encode_s16(const int16_t *x, size_t n, int rate, struct aed_buf *out)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_FLAC);
	AVCodecContext *c = NULL;
	AVFrame *frame = NULL;
	AVPacket *pkt = NULL;
	struct aed_buf frames = { 0 };
	uint8_t info[FLAC_STREAMINFO];
	int rc = AED_OK, ret;

	if (!codec)
		return aed_error(AED_EMEDIA, "FLAC encoder: libavcodec has no FLAC encoder");
	if (!(c = avcodec_alloc_context3(codec)) || !(frame = av_frame_alloc()) ||
	    !(pkt = av_packet_alloc())) {
		rc = aed_error(AED_ENOMEM, "FLAC encoder: out of memory");
		goto out;
	}
	c->sample_fmt = AV_SAMPLE_FMT_S16;
	c->sample_rate = rate;
	av_channel_layout_default(&c->ch_layout, 1);
	c->flags |= AV_CODEC_FLAG_BITEXACT;
	c->compression_level = 5;
	c->thread_count = 1;
	if ((ret = avcodec_open2(c, codec, NULL)) < 0) {
		rc = av_fail(ret, "open");
		goto out;
	}
	if (c->extradata_size < FLAC_STREAMINFO) {
		rc = aed_error(AED_EMEDIA, "FLAC encoder: no STREAMINFO in extradata");
		goto out;
	}
	memcpy(info, c->extradata, FLAC_STREAMINFO);
	int fs = c->frame_size > 0 ? c->frame_size : 4096;
	for (size_t pos = 0; pos < n; pos += (size_t)fs) {
		size_t k = n - pos < (size_t)fs ? n - pos : (size_t)fs;
		frame->nb_samples = (int)k;
		frame->format = c->sample_fmt;
		frame->sample_rate = rate;
		if ((ret = av_channel_layout_copy(&frame->ch_layout, &c->ch_layout)) < 0 ||
		    (ret = av_frame_get_buffer(frame, 0)) < 0) {
			rc = av_fail(ret, "frame");
			goto out;
		}
		memcpy(frame->data[0], x + pos, k * sizeof *x);
		frame->pts = (int64_t)pos;
		if ((ret = avcodec_send_frame(c, frame)) < 0) {
			rc = av_fail(ret, "send frame");
			goto out;
		}
		av_frame_unref(frame);
		if ((rc = drain(c, pkt, &frames, info)))
			goto out;
	}
	if ((ret = avcodec_send_frame(c, NULL)) < 0) {
		rc = av_fail(ret, "flush");
		goto out;
	}
	if ((rc = drain(c, pkt, &frames, info)))
		goto out;
	/* "fLaC", one metadata block: last-block flag | type 0 (STREAMINFO), 24-bit length. */
	static const uint8_t head[8] = { 'f', 'L', 'a', 'C', 0x80, 0, 0, FLAC_STREAMINFO };
	if ((rc = aed_buf_append(out, head, sizeof head)) ||
	    (rc = aed_buf_append(out, info, sizeof info)) ||
	    (rc = aed_buf_append(out, frames.data, frames.len)))
		goto out;
out:
	aed_buf_release(&frames);
	av_packet_free(&pkt);
	av_frame_free(&frame);
	avcodec_free_context(&c);
	return rc;
}

uint64_t aed_flac_total_samples(const uint8_t *flac, size_t n)
{
	/* STREAMINFO at byte 8: 16+16 block sizes, 24+24 frame sizes, 20 bits
	 * rate, 3 channels-1, 5 bps-1, 36 bits total samples. */
	if (n < 8 + FLAC_STREAMINFO || memcmp(flac, "fLaC", 4))
		return 0;
	const uint8_t *s = flac + 8;
	return ((uint64_t)(s[13] & 0x0f) << 32) | ((uint64_t)s[14] << 24) |
	       ((uint64_t)s[15] << 16) | ((uint64_t)s[16] << 8) | s[17];
}
