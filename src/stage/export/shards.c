/* shards.c - the shards themselves: samples in their planned order, a tar or
 * TFRecord file per shard, WebDataset members prepared ahead on worker threads
 * (each with its own read-only database handle) and written by this one, so
 * the bytes do not depend on the thread count; each shard's size and sha256
 * for the index (shard_index.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "aedcurate/error.h"
#include "aedcurate/tar.h"
#include "stage/export/internal.h"

/* Workers prepare a window of samples, t-th worker every T-th sample; the
 * writer then emits them in order, so the bytes do not depend on T. */
struct prep_job {
	const struct ex *x;
	struct aed_db *db;
	const struct xsample *smp;
	struct prep *preps;
	size_t n;
	int t, T;
};

static void *prep_worker(void *arg)
{
	struct prep_job *j = arg;
	for (size_t i = (size_t)j->t; i < j->n; i += (size_t)j->T) {
		struct prep *p = &j->preps[i];
		p->rc = ex_prep_sample(j->x, j->db, &j->smp[i], p);
		if (p->rc)
			snprintf(p->err, sizeof p->err, "%s", aed_last_error());
	}
	return NULL;
}

/* Prepare preps[0, n) for the samples from smp on T threads (the first on
 * this one), worker t reading through wdb[t]. */
static void prepare_window(const struct ex *x, struct aed_db *const *wdb, const struct xsample *smp,
			   struct prep *preps, size_t n, int T)
{
	struct prep_job jobs[16];
	pthread_t th[16];
	int started[16] = { 0 };

	for (int t = 0; t < T; t++)
		jobs[t] = (struct prep_job){ x, wdb[t], smp, preps, n, t, T };
	for (int t = 1; t < T; t++)
		started[t] = !pthread_create(&th[t], NULL, prep_worker, &jobs[t]);
	prep_worker(&jobs[0]);
	for (int t = 1; t < T; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else
			prep_worker(&jobs[t]); /* no thread: do its share here */
	}
}

/* The shard just filled: the tar closed (renamed into place) or the records
 * in rec written, then its size and sha256 in s. */
static int finish_shard(const struct ex *x, const char *dir, struct aed_tar **t,
			const struct aed_buf *rec, struct shard_info *s, struct aed_export_result *r)
{
	char path[4096];
	struct stat stt;
	int rc;

	snprintf(path, sizeof path, "%s/%s", dir, s->name);
	if (x->opt.format == AED_EXPORT_WEBDATASET) {
		if ((rc = aed_tar_close(t)))
			return rc;
	} else if ((rc = aed_write_file_atomic(path, rec->data ? rec->data : "", rec->len))) {
		return rc;
	}
	if (stat(path, &stt))
		return aed_error(AED_EIO, "%s: cannot stat the shard just written", path);
	s->bytes = (int64_t)stt.st_size;
	r->bytes += s->bytes;
	return aed_sha256_file(path, s->sha256);
}

int ex_write_shards(struct ex *x, const char *dir, struct shard_info **infos, size_t *n_infos,
		    struct aed_export_result *r)
{
	const char *ext = x->opt.format == AED_EXPORT_TFRECORD ? "tfrecord" : "tar";
	struct shard_info *si = calloc((size_t)r->n_shards + 1, sizeof *si);
	struct aed_progress *prog = aed_progress_new("export", (int64_t)x->n_smp);
	struct aed_tar *t = NULL;
	struct aed_buf rec = { 0 };
	char path[4096];
	size_t ni = 0, w0 = 0, wn = 0;
	int rc = AED_OK;
	int T = x->opt.threads > 0 ? x->opt.threads : aed_ncpu();
	if (T > 16)
		T = 16;
	const size_t window = 16 * (size_t)T;
	struct aed_db *wdb[16] = { 0 };
	struct prep *preps = calloc(window, sizeof *preps);

	if (!si || !preps) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	for (int t = 1; t < T && x->opt.format == AED_EXPORT_WEBDATASET; t++)
		if ((rc = aed_db_open(aed_db_path(x->db), AED_DB_READONLY, &wdb[t])))
			goto out;
	wdb[0] = x->db;
	for (size_t i = 0; i < x->n_smp; i++) {
		const struct xsample *sm = &x->smp[i];
		if (x->opt.format == AED_EXPORT_WEBDATASET && i == w0 + wn) {
			/* prepare the next window on T threads (the first on this one) */
			for (size_t k = 0; k < wn; k++)
				ex_prep_release(&preps[k]);
			w0 = i;
			wn = x->n_smp - i < window ? x->n_smp - i : window;
			prepare_window(x, wdb, x->smp + w0, preps, wn, T);
		}
		if (sm->position == 0) {
			struct shard_info *s = &si[ni++];
			snprintf(s->name, sizeof s->name, "%s-%06d.%s", x->opt.splits[sm->split].name,
				 sm->shard, ext);
			s->split = sm->split;
			snprintf(path, sizeof path, "%s/%s", dir, s->name);
			if (x->opt.format == AED_EXPORT_WEBDATASET &&
			    (rc = aed_tar_open(path, x->opt.mtime, &t)))
				goto out;
			rec.len = 0;
		}
		struct shard_info *s = &si[ni - 1];
		if (x->opt.format == AED_EXPORT_WEBDATASET) {
			const struct prep *p = &preps[i - w0];
			if (p->rc)
				rc = aed_error(p->rc, "%s", p->err);
			else
				rc = ex_wds_emit(x, sm, p, t);
		} else
			rc = ex_tfrecord_sample(x, &x->seg[sm->seg], &rec);
		if (rc)
			goto out;
		s->samples++;
		aed_progress_add(prog, 1);
		int last = i + 1 == x->n_smp || x->smp[i + 1].position == 0;
		if (!last)
			continue;
		if ((rc = finish_shard(x, dir, &t, &rec, s, r)))
			goto out;
	}
	*infos = si;
	*n_infos = ni;
	si = NULL;
out:
	aed_tar_abort(&t);
	aed_buf_release(&rec);
	aed_progress_free(&prog);
	for (size_t k = 0; preps && k < wn; k++)
		ex_prep_release(&preps[k]);
	free(preps);
	for (int k = 1; k < 16; k++)
		aed_db_free(&wdb[k]);
	free(si);
	return rc;
}

/* The files of this export, for the folder's file list (outdir.h): planned
 * shards (si NULL) or those written, and the files beside them. A caller's
 * names[] points into names_buf or at literals; free both. */
