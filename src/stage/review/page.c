/* page.c - the review page's folder: where the page sources are, one
 * candidate's media (its context clip as Ogg Opus and its log-mel as a PNG)
 * and entry in the page data, the folder's file list, and candidates.js made
 * safe inside a <script>. On a clip's way from a CSV row to a shard this is
 * what a person listens to between mining and refinement. Which candidates go
 * on a page and how the export is recorded: export.c. Layout: review.h. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/review/internal.h"

#define PAGE_FILE_MAX (8u << 20) /* bytes of one page source file */
#define IMAGE_BAND_PX 2         /* image rows per mel band */
#define IMAGE_RANGE 10.0f       /* log-mel units shown below the maximum */

static const char *const page_files[] = { "index.html", "app.js", "style.css" };

int aed_review_dir_has_page(const char *dir)
{
	char *path = NULL;
	struct stat st;
	int ok;

	if (asprintf(&path, "%s/index.html", dir) < 0)
		return 0;
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok;
}

const char *aed_review_web_dir(void)
{
	static char buf[4200];
	const char *env = getenv("AEDCURATE_WEB");
	char exe[4000];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, sizeof buf, "%s", env);
		return aed_review_dir_has_page(buf) ? buf : NULL;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		if ((slash = strrchr(exe, '/'))) {
			*slash = 0;     /* .../bin */
			if ((slash = strrchr(exe, '/'))) {
				*slash = 0; /* the repository or prefix */
				snprintf(buf, sizeof buf, "%s/web/review", exe);
				if (aed_review_dir_has_page(buf))
					return buf;
				snprintf(buf, sizeof buf, "%s/share/aedcurate/review", exe);
				if (aed_review_dir_has_page(buf))
					return buf;
			}
		}
	}
	snprintf(buf, sizeof buf, "web/review");
	return aed_review_dir_has_page(buf) ? buf : NULL;
}

/* A perceptual colour ramp (dark blue - purple - orange - pale yellow). */
static void colour(float t, uint8_t rgb[3])
{
	static const float stops[][3] = {
		{ 0, 0, 4 }, { 40, 11, 84 }, { 101, 21, 110 }, { 159, 42, 99 },
		{ 212, 72, 66 }, { 245, 125, 21 }, { 250, 193, 39 }, { 252, 255, 164 },
	};
	const int n = sizeof stops / sizeof stops[0];
	float x;
	int i;

	if (!(t > 0.0f))
		t = 0.0f;
	if (t > 1.0f)
		t = 1.0f;
	x = t * (float)(n - 1);
	i = (int)x;
	if (i >= n - 1)
		i = n - 2;
	x -= (float)i;
	for (int c = 0; c < 3; c++)
		rgb[c] = (uint8_t)lrintf(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * x);
}

/* The log-mel of the context as an image: one column per frame, two rows
 * per band, low bands at the bottom. */
static int write_spectrogram(const char *path, const float *x, size_t n, size_t *frames_out)
{
	float *mel = NULL, lo = INFINITY, hi = -INFINITY;
	size_t frames = 0, f, i;
	uint8_t *img = NULL;
	int rc, w, h = AED_MEL_BANDS * IMAGE_BAND_PX, b, r;

	if ((rc = aed_logmel(x, n, AED_PRESET_YAMNET, &mel, &frames)))
		return rc;
	w = frames ? (int)frames : 1;
	if (!(img = malloc((size_t)w * (size_t)h * 3))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < frames * AED_MEL_BANDS; i++) {
		if (mel[i] < lo)
			lo = mel[i];
		if (mel[i] > hi)
			hi = mel[i];
	}
	if (!frames)
		lo = hi = 0.0f;
	if (lo < hi - IMAGE_RANGE)
		lo = hi - IMAGE_RANGE;
	for (f = 0; f < (size_t)w; f++)
		for (b = 0; b < AED_MEL_BANDS; b++) {
			uint8_t rgb[3];
			float v = frames ? mel[f * AED_MEL_BANDS + (size_t)b] : 0.0f;

			colour(hi > lo ? (v - lo) / (hi - lo) : 0.0f, rgb);
			for (r = 0; r < IMAGE_BAND_PX; r++) {
				size_t row = (size_t)(h - 1 - (b * IMAGE_BAND_PX + r));

				memcpy(img + (row * (size_t)w + f) * 3, rgb, 3);
			}
		}
	rc = aed_encode_png_rgb(path, img, w, h);
	*frames_out = frames;
out:
	free(mel);
	free(img);
	return rc;
}

/* Context clip of candidate c: up to AED_REVIEW_CONTEXT_S around the best
 * patch, inside the clip's real samples. Writes the Ogg and PNG files and
 * appends the candidate's JSON. */
int aed_review_export_one(struct aed_db *db, const struct cand *c, size_t pos,
			  const char *out_dir, int bitrate, json_t *arr)
{
	struct aed_array a = { 0 };
	sqlite3_stmt *st = NULL;
	float *x = NULL;
	int64_t real = -1, total, len, off, ctx = (int64_t)(AED_REVIEW_CONTEXT_S * AED_SAMPLE_RATE);
	char audio_rel[32], image_rel[32], path[4096];
	size_t frames = 0;
	double centre;
	int rc;

	rc = aed_array_get(db, "clip", c->segment_id, &a);
	if (rc == AED_ENOTFOUND) {
		rc = aed_error(AED_ESTATE, "candidate %s has no decoded clip: run `aedcurate decode` "
			       "first", c->key);
		goto out;
	}
	if (rc)
		goto out;
	if (a.dtype != AED_I16) {
		rc = aed_error(AED_EFORMAT, "clip of %s: dtype %s, expected i16", c->key,
			       aed_dtype_name(a.dtype));
		goto out;
	}
	total = (int64_t)(a.nbytes / sizeof(int16_t));
	/* The real length, without the zero padding, when decode recorded it. */
	if (aed_db_prepare(db, "SELECT n_samples FROM clip WHERE segment_id = ?1", &st) == AED_OK) {
		sqlite3_bind_int64(st, 1, c->segment_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			real = sqlite3_column_int64(st, 0);
	}
	if (real <= 0 || real > total)
		real = total;
	len = real < ctx ? real : ctx;
	centre = (c->best_time_s + AED_REVIEW_PATCH_S / 2) * AED_SAMPLE_RATE;
	off = (int64_t)llround(centre - (double)len / 2);
	if (off > real - len)
		off = real - len;
	if (off < 0)
		off = 0;
	if (len <= 0) {
		rc = aed_error(AED_ESTATE, "candidate %s: the clip is empty", c->key);
		goto out;
	}
	if (!(x = malloc((size_t)len * sizeof *x))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	aed_s16_to_f32((const int16_t *)a.data + off, (size_t)len, x);
	snprintf(audio_rel, sizeof audio_rel, "media/%04zu.ogg", pos + 1);
	snprintf(image_rel, sizeof image_rel, "media/%04zu.png", pos + 1);
	snprintf(path, sizeof path, "%s/%s", out_dir, audio_rel);
	if ((rc = aed_encode_opus_ogg(path, x, (size_t)len, AED_SAMPLE_RATE, bitrate)))
		goto out;
	snprintf(path, sizeof path, "%s/%s", out_dir, image_rel);
	if ((rc = write_spectrogram(path, x, (size_t)len, &frames)))
		goto out;
	{
		double off_s = (double)off / AED_SAMPLE_RATE;
		json_t *j = json_pack("{s:s, s:s, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:s, "
				      "s:I}",
				      "id", c->key, "ytid", c->ytid,
				      "start_s", (double)c->start_ms / 1000.0,
				      "rank", (json_int_t)c->rank, "score", c->score,
				      "best_time_s", c->best_time_s, "offset_s", off_s,
				      "duration_s", (double)len / AED_SAMPLE_RATE,
				      "best_start_s", c->best_time_s - off_s,
				      "best_dur_s", AED_REVIEW_PATCH_S,
				      "audio", audio_rel, "image", image_rel,
				      "frames", (json_int_t)frames);
		if (!j || json_array_append_new(arr, j)) {
			rc = aed_error(AED_ENOMEM, "out of memory building the page data");
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	aed_array_release(&a);
	free(x);
	return rc;
}

/* The files of a page of n candidates, for the folder's file list
 * (outdir.h): names[] points into *buf or at literals; free both. */
int aed_review_page_file_names(size_t n, const char ***names, size_t *n_names, char **buf)
{
	const size_t np = sizeof page_files / sizeof *page_files;
	const char **v = malloc((2 * n + np + 1) * sizeof *v);
	char *b = malloc(2 * n * 32 + 1);
	size_t k = 0;

	if (!v || !b) {
		free(v);
		free(b);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < 2; t++) {
			char *p = b + (2 * i + (size_t)t) * 32;
			snprintf(p, 32, "media/%04zu.%s", i + 1, t ? "png" : "ogg");
			v[k++] = p;
		}
	v[k++] = "candidates.js";
	for (size_t i = 0; i < np; i++)
		v[k++] = page_files[i];
	*names = v;
	*n_names = k;
	*buf = b;
	return AED_OK;
}

static int copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t n = 0;
	int rc = aed_read_file(from, PAGE_FILE_MAX, &data, &n);

	if (!rc)
		rc = aed_write_file_atomic(to, data, n);
	free(data);
	return rc;
}

int aed_review_script_escape(const char *json, char **out)
{
	struct aed_buf b = { 0 };
	const unsigned char *p = (const unsigned char *)json;
	int rc = AED_OK;

	*out = NULL;
	/* These bytes occur only inside JSON strings, where \uXXXX means the same
	 * character; outside a string the JSON grammar has no use for them. */
	for (; *p && !rc; p++) {
		if (*p == '<')
			rc = aed_buf_append(&b, "\\u003c", 6);
		else if (*p == '>')
			rc = aed_buf_append(&b, "\\u003e", 6);
		else if (*p == '&')
			rc = aed_buf_append(&b, "\\u0026", 6);
		else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			rc = aed_buf_append(&b, p[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			p += 2;
		} else
			rc = aed_buf_append(&b, p, 1);
	}
	if (!rc && !b.data)
		rc = aed_buf_append(&b, "", 0);
	if (rc) {
		aed_buf_release(&b);
		return rc;
	}
	*out = b.data;
	return AED_OK;
}

/* candidates.js from the page data root (NULL: out of memory building it),
 * then the page sources copied from web. */
int aed_review_write_page(const char *out_dir, const char *web, json_t *root)
{
	char *json = NULL, *safe = NULL, file[4096];
	struct aed_buf js = { 0 };
	size_t i;
	int rc = AED_OK;

	if (!root || !(json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) ||
	    (rc = aed_review_script_escape(json, &safe)) ||
	    (rc = aed_buf_printf(&js, "/* generated by aedcurate review export: the candidates "
				 "to rate */\nwindow.AED_DATA = %s;\n", safe))) {
		rc = rc ? rc : aed_error(AED_ENOMEM, "out of memory building the page data");
		goto out;
	}
	snprintf(file, sizeof file, "%s/candidates.js", out_dir);
	if ((rc = aed_write_file_atomic(file, js.data, js.len)))
		goto out;
	for (i = 0; i < sizeof page_files / sizeof *page_files; i++) {
		char from[4096];

		snprintf(from, sizeof from, "%s/%s", web, page_files[i]);
		snprintf(file, sizeof file, "%s/%s", out_dir, page_files[i]);
		if ((rc = copy_file(from, file)))
			goto out;
	}
out:
	free(json);
	free(safe);
	aed_buf_release(&js);
	return rc;
}
