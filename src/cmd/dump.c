/* dump.c - `aedcurate dump KIND SEGMENT -o FILE`: one stored array out of the
 * array store, as WAV for clips and as NumPy .npy for everything else. Generic
 * over array kinds, so later stages' arrays need no code here. */
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/npy.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

struct dump_cli {
	const char *out, *preset;
	int trim;
};

#define O(f) offsetof(struct dump_cli, f)
static const struct aed_opt opts[] = {
	{ "output", 'o', AED_OPT_STR, O(out), "FILE", "where to write (required)" },
	{ "preset", 'p', AED_OPT_STR, O(preset), "NAME", "for 'features': yamnet or vggish",
	  .def_note = "yamnet" },
	{ "trim", 0, AED_OPT_FLAG, O(trim), NULL, "for 'clip': only the real samples, not the padding" },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "dump",
	.args = "KIND SEGMENT",
	.summary = "Write one stored array of a segment to a WAV or .npy file.",
	.details =
		"KIND is an array kind of the store: clip (written as 16 kHz mono 16-bit WAV,\n"
		"or as int16 .npy when FILE ends in .npy), features (logmel_<preset>),\n"
		"embeddings (YAMNet [patches,1024]), scores ([patches,521]), or any other\n"
		"kind a stage stores (logmel_vggish, ...), written as .npy\n"
		"with trailing dimensions of 1 dropped. SEGMENT is YTID_STARTMS, a YouTube id\n"
		"with one segment, a manifest file path or a segment number.",
	.opts = opts,
	.min_args = 2,
	.max_args = 2,
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

int cmd_dump(struct aed_ctx *ctx, int argc, char **argv)
{
	struct dump_cli c = { 0 };
	struct aed_array a = { 0 };
	int nargs = 0, ndim, as_wav = 0;
	int64_t item, dims[3];
	char kind[64];
	int rc = aed_parse(ctx, &spec, argc, argv, &c, &nargs);
	if (rc)
		return rc;
	const char *kind_arg = argv[0], *seg = argv[1];
	if (!c.out)
		return aed_error(AED_EUSAGE, "dump: -o FILE is required");
	if (strcmp(kind_arg, "features") == 0) {
		enum aed_preset p = AED_PRESET_YAMNET;
		if (c.preset && (rc = aed_preset_parse(c.preset, &p)))
			return rc;
		snprintf(kind, sizeof kind, "%s", aed_logmel_kind(p));
	} else {
		if (c.preset)
			return aed_error(AED_EUSAGE, "dump: --preset only goes with 'features'");
		/* Plural names read naturally on the command line: dump embeddings. */
		snprintf(kind, sizeof kind, "%s",
			 strcmp(kind_arg, "embeddings") == 0 ? "embedding" : kind_arg);
	}
	as_wav = strcmp(kind, "clip") == 0 && !ends_with(c.out, ".npy");
	if (c.trim && strcmp(kind, "clip") != 0)
		return aed_error(AED_EUSAGE, "dump: --trim only goes with 'clip'");
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)))
		return rc;
	if ((rc = aed_segment_lookup(ctx->db, seg, &item)))
		return rc;
	if ((rc = aed_array_get(ctx->db, kind, item, &a))) {
		if (rc == AED_ENOTFOUND)
			aed_error(rc, "dump: segment '%s' has no '%s' array (has its stage run?)", seg, kind);
		return rc;
	}
	memcpy(dims, a.dims, sizeof dims);
	if (c.trim) {
		int64_t real = dims[0];
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT n_samples FROM clip WHERE segment_id = %" PRId64, item);
		if ((rc = aed_db_int(ctx->db, sql, &real)))
			goto out;
		if (real > 0 && real < dims[0])
			dims[0] = real;
	}
	for (ndim = 3; ndim > 1 && dims[ndim - 1] == 1; ndim--)
		;
	if (as_wav) {
		if (a.dtype != AED_I16 || ndim != 1) {
			rc = aed_error(AED_EFORMAT, "dump: clip of '%s' is %s with %d dimensions, expected "
				       "i16 samples", seg, aed_dtype_name(a.dtype), ndim);
			goto out;
		}
		rc = aed_wav_write_s16(c.out, a.data, (size_t)dims[0], AED_SAMPLE_RATE, 1);
	} else {
		rc = aed_npy_write(c.out, a.dtype, ndim, dims, a.data);
	}
	if (rc)
		goto out;
	if (ctx->g.json) {
		json_t *shape = json_array();
		for (int i = 0; i < ndim; i++)
			json_array_append_new(shape, json_integer(dims[i]));
		json_t *j = json_pack("{sI, ss, ss, so, ss}", "segment_id", (json_int_t)item, "kind", kind,
				      "dtype", aed_dtype_name(a.dtype), "shape", shape, "file", c.out);
		char *text = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(j);
	} else {
		aed_info("dump: %s of segment %" PRId64 " (%s, %" PRId64 " x %" PRId64 " x %" PRId64
			 ") -> %s", kind, item, aed_dtype_name(a.dtype), dims[0], dims[1], dims[2], c.out);
	}
out:
	aed_array_release(&a);
	return rc;
}
