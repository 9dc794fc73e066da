/* shard_index.c - what lists the shards: index.json (per split the brace
 * pattern, each shard's samples, bytes and sha256), SPLIT.wids.json, the list
 * of the export's files for the output folder (outdir.h), and the parameters
 * as JSON (index, manifest, the run's record). Written after shards.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "stage/export/internal.h"

int ex_export_files(const struct ex *x, const struct shard_info *si, size_t n_si,
		    const char ***names, size_t *n, char **names_buf)
{
	static const char *const beside[] = { "index.json", "manifest.json", "README.md",
					      "class_counts.csv", "priors.csv", "classes.json",
					      "pos_weight.npy" };
	static const char *const pca[] = { "pca_mean.npy", "pca_components.npy", "pca.json" };
	const char *ext = x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar";
	size_t n_shards = 0, k = 0;

	if (si)
		n_shards = n_si;
	else
		for (size_t i = 0; i < x->n_smp; i++)
			n_shards += x->smp[i].position == 0;
	size_t n_named = n_shards + (size_t)x->opt.n_splits; /* shards, SPLIT.wids.json */
	const char **v = malloc((n_named + 16) * sizeof *v);
	char *buf = malloc(n_named * 64 + 1);
	if (!v || !buf) {
		free(v);
		free(buf);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	for (size_t i = 0, j = 0; i < (si ? n_si : x->n_smp); i++) {
		if (si) {
			v[k++] = si[i].name;
			continue;
		}
		if (x->smp[i].position != 0)
			continue;
		snprintf(buf + 64 * j, 64, "%s-%06d.%s", x->opt.splits[x->smp[i].split].name,
			 x->smp[i].shard, ext);
		v[k++] = buf + 64 * j++;
	}
	for (int s = 0; s < x->opt.n_splits; s++) {
		snprintf(buf + 64 * (n_shards + (size_t)s), 64, "%s.wids.json", x->opt.splits[s].name);
		v[k++] = buf + 64 * (n_shards + (size_t)s);
	}
	for (size_t i = 0; i < sizeof beside / sizeof *beside; i++)
		v[k++] = beside[i];
	for (size_t i = 0; x->opt.format == AED_EXPORT_TFRECORD && i < sizeof pca / sizeof *pca; i++)
		v[k++] = pca[i];
	*names = v;
	*n = k;
	*names_buf = buf;
	return AED_OK;
}

const char *ex_format_name(enum aed_export_format f)
{
	return f == AED_EXPORT_TFRECORD ? "tfrecord" : "webdataset";
}

static json_t *payload_json(unsigned p)
{
	json_t *a = json_array();
	if (p & AED_PAYLOAD_AUDIO)
		json_array_append_new(a, json_string("audio"));
	if (p & AED_PAYLOAD_LOGMEL)
		json_array_append_new(a, json_string("logmel"));
	if (p & AED_PAYLOAD_EMBEDDING)
		json_array_append_new(a, json_string("embedding"));
	return a;
}

json_t *ex_params_json(const struct ex *x)
{
	json_t *sp = json_object();
	for (int i = 0; i < x->opt.n_splits; i++)
		json_object_set_new(sp, x->opt.splits[i].name, json_real(x->opt.splits[i].fraction));
	json_t *keep = json_object();
	for (int k = 0; k < x->opt.n_keep; k++)
		json_object_set_new(keep, x->opt.keep[k].from, json_string(x->opt.keep[k].to));
	return json_pack("{s:s, s:{s:I, s:I}, s:o, s:I, s:I, s:o, s:b, s:I, s:I, s:o, s:b, s:f}",
			 "format", ex_format_name(x->opt.format), "balance", "min", (json_int_t)x->opt.min,
			 "max", (json_int_t)x->opt.max, "splits", sp, "shard_size",
			 (json_int_t)x->opt.shard_size, "shards_per_split",
			 (json_int_t)x->opt.shards_per_split, "payload", payload_json(x->opt.payload),
			 "mix_augment", x->opt.mix_augment, "seed", (json_int_t)x->opt.seed, "mtime",
			 (json_int_t)x->opt.mtime, "keep_split", keep, "ancestors", !x->opt.no_ancestors,
			 "beta", x->opt.beta);
}

int ex_write_json_file(const char *dir, const char *name, json_t *j, char sha[65])
{
	char path[4096];
	char *s = j ? json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) : NULL;
	int rc;
	if (!s)
		return aed_error(AED_ENOMEM, "export: JSON of %s", name);
	size_t n = strlen(s);
	s[n] = '\0';
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char *t = malloc(n + 2);
	if (!t) {
		free(s);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	memcpy(t, s, n);
	t[n] = '\n';
	rc = aed_write_file_atomic(path, t, n + 1);
	if (sha)
		aed_sha256_hex(t, n + 1, sha);
	free(s);
	free(t);
	return rc;
}

int ex_write_index(struct ex *x, const char *dir, const struct shard_info *si, size_t n,
		   char sha[65])
{
	const char *ext = x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar";
	json_t *splits = json_object();
	int rc = AED_OK;
	for (int s = 0; s < x->opt.n_splits && !rc; s++) {
		const char *sn = x->opt.splits[s].name;
		json_t *arr = json_array(), *wl = json_array();
		int64_t cnt = 0, nsh = 0;
		for (size_t i = 0; i < n; i++)
			if (si[i].split == s) {
				json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:s}", "name", si[i].name,
								     "samples", (json_int_t)si[i].samples,
								     "bytes", (json_int_t)si[i].bytes,
								     "sha256", si[i].sha256));
				json_array_append_new(wl, json_pack("{s:s, s:I}", "url", si[i].name, "nsamples",
								    (json_int_t)si[i].samples));
				cnt += si[i].samples;
				nsh++;
			}
		/* the brace pattern webdataset and tf.data users expand; shards are
		 * numbered from 0 without gaps */
		char pat[128], wname[64];
		if (nsh > 1)
			snprintf(pat, sizeof pat, "%s-{000000..%06lld}.%s", sn, (long long)(nsh - 1), ext);
		else
			snprintf(pat, sizeof pat, "%s-000000.%s", sn, ext);
		snprintf(wname, sizeof wname, "%s.wids.json", sn);
		json_t *w = json_pack("{s:s, s:i, s:s, s:o}", "__kind__", "wids-shard-index-v1",
				      "wids_version", 1, "name", sn, "shardlist", wl);
		rc = ex_write_json_file(dir, wname, w, NULL);
		json_decref(w);
		json_object_set_new(splits, sn,
				    json_pack("{s:I, s:s, s:s, s:o}", "samples", (json_int_t)cnt, "pattern",
					      nsh ? pat : "", "wids", wname, "shards", arr));
	}
	if (rc) {
		json_decref(splits);
		return rc;
	}
	json_t *members = json_array();
	if (x->opt.format == AED_EXPORT_WEBDATASET) {
		if (x->opt.payload & AED_PAYLOAD_AUDIO)
			json_array_append_new(members, json_string("flac"));
		json_array_append_new(members, json_string("json"));
		json_array_append_new(members, json_string("labels.npy"));
		if (x->opt.payload & AED_PAYLOAD_LOGMEL)
			json_array_append_new(members, json_string("logmel.npy"));
		if (x->opt.payload & AED_PAYLOAD_EMBEDDING)
			json_array_append_new(members, json_string("embedding.npy"));
	}
	json_t *opt = json_array();
	if (x->opt.format == AED_EXPORT_WEBDATASET) {
		json_array_append_new(opt, json_string("soft.npy"));
		json_array_append_new(opt, json_string("mask.npy"));
	}
	json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:o}", "format", ex_format_name(x->opt.format),
			      "key", "{ytid}_{start_ms}", "members", members, "optional_members", opt,
			      "classes", "classes.json", "pos_weight", "pos_weight.npy", "splits", splits);
	rc = ex_write_json_file(dir, "index.json", j, sha);
	json_decref(j);
	return rc;
}
