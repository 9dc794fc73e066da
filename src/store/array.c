/* array.c - the array store: bulk arrays in append-only files beside the
 * database, their places recorded in SQLite (see store.h for the protocol).
 *
 * File layout: <db>.arrays/<kind>/<run_id>-<writer>.bin holds raw
 * little-endian arrays back to back, each starting at a multiple of 64 bytes
 * (zero padding between). No header: array_ref(kind, item) gives file,
 * offset, byte count, dtype and up to three dimensions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define ALIGN 64

struct aed_array_writer {
	struct aed_db *db;
	char *kind;
	char *path;          /* absolute */
	int fd;
	int64_t file_id;
	int64_t size;        /* bytes appended so far */
	int64_t last_nbytes; /* of the last append, for aed_array_record */
	sqlite3_stmt *ins, *upd;
};

static const char *const dtype_names[] = { "f32", "i16", "u8" };
static const size_t dtype_sizes[] = { 4, 2, 1 };

size_t aed_dtype_size(enum aed_dtype t) { return dtype_sizes[t]; }
const char *aed_dtype_name(enum aed_dtype t) { return dtype_names[t]; }

static int dtype_parse(const char *s, enum aed_dtype *t)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, dtype_names[i])) {
			*t = (enum aed_dtype)i;
			return AED_OK;
		}
	return aed_error(AED_EFORMAT, "array store: unknown dtype '%s'", s);
}

int aed_array_writer_new(struct aed_db *db, const char *kind, int64_t run_id,
			 int writer_index, struct aed_array_writer **out)
{
	char rel[512], dir[4096];
	sqlite3_stmt *st = NULL;
	int rc;
	struct aed_array_writer *w = calloc(1, sizeof *w);
	*out = NULL;
	if (!w)
		return aed_error(AED_ENOMEM, "out of memory");
	w->fd = -1;
	w->db = db;
	for (const char *p = kind; *p; p++)
		if (!(*p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
			rc = aed_error(AED_EINTERNAL, "array kind '%s' must be [a-z0-9_-]", kind);
			goto fail;
		}
	snprintf(rel, sizeof rel, "%s/%lld-%d.bin", kind, (long long)run_id, writer_index);
	snprintf(dir, sizeof dir, "%s/%s", aed_db_array_dir(db), kind);
	if ((rc = aed_mkdir_p(dir)))
		goto fail;
	w->kind = strdup(kind);
	if (asprintf(&w->path, "%s/%s", aed_db_array_dir(db), rel) < 0 || !w->kind) {
		w->path = NULL;
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto fail;
	}
	w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = aed_error(AED_EIO, "%s: %s", w->path, strerror(errno));
		goto fail;
	}
	/* A new run's file: whatever is there is not committed by anyone. */
	if (ftruncate(w->fd, 0) != 0) {
		rc = aed_error(AED_EIO, "%s: %s", w->path, strerror(errno));
		goto fail;
	}
	if ((rc = aed_db_prepare(db, "INSERT INTO array_file(kind, path, run_id) VALUES(?, ?, ?) "
				     "ON CONFLICT(path) DO UPDATE SET committed_bytes = 0 "
				     "RETURNING id", &st)))
		goto fail;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, run_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = aed_db_error(db, "registering array file");
		goto fail;
	}
	w->file_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = aed_db_prepare(db, "INSERT OR REPLACE INTO array_ref(kind, item, file_id, "
				     "offset, nbytes, dtype, dim0, dim1, dim2, run_id) "
				     "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &w->ins)) ||
	    (rc = aed_db_prepare(db, "UPDATE array_file SET committed_bytes = ? WHERE id = ?",
				 &w->upd)))
		goto fail;
	sqlite3_bind_int64(w->ins, 10, run_id);
	*out = w;
	return AED_OK;
fail:
	sqlite3_finalize(st);
	aed_array_writer_free(&w);
	return rc;
}

void aed_array_writer_free(struct aed_array_writer **pw)
{
	struct aed_array_writer *w = *pw;
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	sqlite3_finalize(w->ins);
	sqlite3_finalize(w->upd);
	free(w->kind);
	free(w->path);
	free(w);
	*pw = NULL;
}

int aed_array_append(struct aed_array_writer *w, const void *data, size_t nbytes,
		     int64_t *offset)
{
	static const char zeros[ALIGN];
	int64_t pad = (ALIGN - w->size % ALIGN) % ALIGN;
	struct { const void *p; size_t n; } parts[2] = { { zeros, (size_t)pad }, { data, nbytes } };
	off_t pos = (off_t)w->size;
	for (int i = 0; i < 2; i++) {
		const char *p = parts[i].p;
		size_t n = parts[i].n;
		while (n > 0) {
			ssize_t k = pwrite(w->fd, p, n, pos);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				return aed_error(AED_EIO, "%s: %s", w->path, strerror(errno));
			}
			p += k;
			n -= (size_t)k;
			pos += k;
		}
	}
	*offset = w->size + pad;
	w->size = (int64_t)pos;
	w->last_nbytes = (int64_t)nbytes;
	return AED_OK;
}

int aed_array_sync(struct aed_array_writer *w)
{
	if (fdatasync(w->fd) != 0)
		return aed_error(AED_EIO, "%s: fdatasync: %s", w->path, strerror(errno));
	return AED_OK;
}

int aed_array_record(struct aed_array_writer *w, int64_t item, int64_t offset,
		     enum aed_dtype dtype, const int64_t dims[3])
{
	int64_t count = dims[0] * (dims[1] ? dims[1] : 1) * (dims[2] ? dims[2] : 1);
	sqlite3_stmt *st = w->ins;
	sqlite3_bind_text(st, 1, w->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, item);
	sqlite3_bind_int64(st, 3, w->file_id);
	sqlite3_bind_int64(st, 4, offset);
	sqlite3_bind_int64(st, 5, count * (int64_t)aed_dtype_size(dtype));
	sqlite3_bind_text(st, 6, aed_dtype_name(dtype), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, dims[0]);
	sqlite3_bind_int64(st, 8, dims[1] ? dims[1] : 1);
	sqlite3_bind_int64(st, 9, dims[2] ? dims[2] : 1);
	int rc = AED_OK;
	if (offset < 0 || offset + count * (int64_t)aed_dtype_size(dtype) > w->size)
		rc = aed_error(AED_EINTERNAL, "array %s/%lld: extent past the end of %s", w->kind,
			       (long long)item, w->path);
	else if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(w->db, "recording array");
	sqlite3_reset(st);
	return rc;
}

int aed_array_commit_size(struct aed_array_writer *w)
{
	sqlite3_bind_int64(w->upd, 1, w->size);
	sqlite3_bind_int64(w->upd, 2, w->file_id);
	int rc = sqlite3_step(w->upd) == SQLITE_DONE ? AED_OK
						     : aed_db_error(w->db, "committing array file size");
	sqlite3_reset(w->upd);
	return rc;
}

/* The array_ref row of (kind, item) on st (bound and stepped here): its
 * file's path into path, id, offset and extent, checked against the file's
 * committed bytes; out's dtype and dims. */
static int lookup(struct aed_db *db, sqlite3_stmt *st, const char *kind, int64_t item,
		  char *path, size_t cap, int64_t *file_id, int64_t *off, int64_t *nb,
		  struct aed_array *out)
{
	int rc = AED_OK;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, item);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = aed_error(AED_ENOTFOUND, "no %s array for segment %lld", kind, (long long)item);
		goto out;
	}
	const char *rel = (const char *)sqlite3_column_text(st, 0);
	/* An absolute path is a shard's file that `merge` pointed at. */
	if (rel[0] == '/')
		snprintf(path, cap, "%s", rel);
	else
		snprintf(path, cap, "%s/%s", aed_db_array_dir(db), rel);
	*off = sqlite3_column_int64(st, 1);
	*nb = sqlite3_column_int64(st, 2);
	*file_id = sqlite3_column_int64(st, 8);
	if ((rc = dtype_parse((const char *)sqlite3_column_text(st, 3), &out->dtype)))
		goto out;
	for (int i = 0; i < 3; i++)
		out->dims[i] = sqlite3_column_int64(st, 4 + i);
	if (*off < 0 || *nb < 0 || *off + *nb > sqlite3_column_int64(st, 7) ||
	    *nb != out->dims[0] * out->dims[1] * out->dims[2] * (int64_t)aed_dtype_size(out->dtype))
		rc = aed_error(AED_EFORMAT, "%s: array %s/%lld has an inconsistent extent", path,
			       kind, (long long)item);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static const char *const get_sql =
	"SELECT f.path, r.offset, r.nbytes, r.dtype, r.dim0, r.dim1, r.dim2, "
	"f.committed_bytes, f.id FROM array_ref r JOIN array_file f ON f.id = r.file_id "
	"WHERE r.kind = ? AND r.item = ?";

static int read_all(int fd, const char *path, void *buf, int64_t nb, int64_t off)
{
	size_t got = 0;
	while (got < (size_t)nb) {
		ssize_t k = pread(fd, (char *)buf + got, (size_t)nb - got, (off_t)(off + got));
		if (k <= 0)
			return aed_error(AED_EIO, "%s: short read at %lld", path, (long long)(off + got));
		got += (size_t)k;
	}
	return AED_OK;
}

int aed_array_get(struct aed_db *db, const char *kind, int64_t item, struct aed_array *out)
{
	sqlite3_stmt *st;
	char path[4096];
	int64_t file_id, off, nb;
	int rc, fd = -1;
	memset(out, 0, sizeof *out);
	if ((rc = aed_db_prepare(db, get_sql, &st)))
		return rc;
	if ((rc = lookup(db, st, kind, item, path, sizeof path, &file_id, &off, &nb, out)))
		goto out;
	out->data = malloc(nb ? (size_t)nb : 1);
	if (!out->data) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	out->nbytes = (size_t)nb;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = read_all(fd, path, out->data, nb, off);
out:
	if (fd >= 0)
		close(fd);
	sqlite3_finalize(st);
	if (rc)
		aed_array_release(out);
	return rc;
}

/* Files kept open by a reader; past this many, all are closed and reopened
 * as needed (a corpus has a few files per embed run). */
#define READER_FDS 64

struct aed_array_reader {
	struct aed_db *db;
	char *kind;
	sqlite3_stmt *st;
	int n_open;
	int64_t file_ids[READER_FDS];
	int fds[READER_FDS];
	void *buf;
	size_t cap;
};

int aed_array_reader_new(struct aed_db *db, const char *kind, struct aed_array_reader **out)
{
	struct aed_array_reader *r = calloc(1, sizeof *r);
	int rc;
	*out = NULL;
	if (!r || !(r->kind = strdup(kind))) {
		free(r);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	r->db = db;
	if ((rc = aed_db_prepare(db, get_sql, &r->st))) {
		aed_array_reader_free(&r);
		return rc;
	}
	*out = r;
	return AED_OK;
}

void aed_array_reader_free(struct aed_array_reader **rp)
{
	struct aed_array_reader *r = *rp;
	if (!r)
		return;
	for (int i = 0; i < r->n_open; i++)
		close(r->fds[i]);
	sqlite3_finalize(r->st);
	free(r->kind);
	free(r->buf);
	free(r);
	*rp = NULL;
}

int aed_array_reader_rows(struct aed_array_reader *r, int64_t item, int64_t row0, int64_t nrows,
			  struct aed_array *out)
{
	char path[4096];
	int64_t file_id, off, nb;
	int rc, fd = -1;
	memset(out, 0, sizeof *out);
	if ((rc = lookup(r->db, r->st, r->kind, item, path, sizeof path, &file_id, &off, &nb, out)))
		return rc;
	if (nrows < 0)
		row0 = 0, nrows = out->dims[0];
	if (row0 < 0 || row0 + nrows > out->dims[0])
		return aed_error(AED_EINTERNAL, "array %s/%lld: rows %lld..%lld of %lld", r->kind,
				 (long long)item, (long long)row0, (long long)(row0 + nrows - 1),
				 (long long)out->dims[0]);
	/* Rows are contiguous: dims[1] * dims[2] elements each. */
	int64_t row = out->dims[0] ? nb / out->dims[0] : 0;
	off += row0 * row;
	nb = nrows * row;
	if ((size_t)nb > r->cap || !r->buf) {
		void *b = realloc(r->buf, nb ? (size_t)nb : 1);
		if (!b)
			return aed_error(AED_ENOMEM, "out of memory");
		r->buf = b;
		r->cap = nb ? (size_t)nb : 1;
	}
	for (int i = 0; i < r->n_open && fd < 0; i++)
		if (r->file_ids[i] == file_id)
			fd = r->fds[i];
	if (fd < 0) {
		if (r->n_open == READER_FDS) {
			for (int i = 0; i < r->n_open; i++)
				close(r->fds[i]);
			r->n_open = 0;
		}
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return aed_error(AED_EIO, "%s: %s", path, strerror(errno));
		r->file_ids[r->n_open] = file_id;
		r->fds[r->n_open++] = fd;
	}
	if ((rc = read_all(fd, path, r->buf, nb, off)))
		return rc;
	out->data = r->buf;
	out->nbytes = (size_t)nb;
	return AED_OK;
}

int aed_array_reader_get(struct aed_array_reader *r, int64_t item, struct aed_array *out)
{
	return aed_array_reader_rows(r, item, 0, -1, out);
}

void aed_array_release(struct aed_array *a)
{
	free(a->data);
	a->data = NULL;
	a->nbytes = 0;
}
