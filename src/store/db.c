/* db.c - opening the stage store: pragmas, schema migrations, transactions.
 * Not the stage logic: runs and work claims are in run.c, arrays in array.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "schema_sql.h"

#define N_MIGRATIONS (sizeof aed_migrations / sizeof aed_migrations[0])
/* migrate() on a read-only handle whose schema is behind: reopen writable. */
#define AED_ESTATE_MIGRATE (-1)

struct aed_db {
	sqlite3 *h;
	char *path;
	char *array_dir;
	int in_tx;
};

int aed_db_schema_version(void)
{
	return aed_migrations[N_MIGRATIONS - 1].version;
}

int aed_db_error(struct aed_db *db, const char *what)
{
	return aed_error(AED_EDB, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

sqlite3 *aed_db_sqlite(struct aed_db *db) { return db->h; }
const char *aed_db_path(const struct aed_db *db) { return db->path; }
const char *aed_db_array_dir(const struct aed_db *db) { return db->array_dir; }

int aed_db_exec(struct aed_db *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = aed_error(AED_EDB, "%s: %s", db->path, msg ? msg : "error");
		sqlite3_free(msg);
		return rc;
	}
	return AED_OK;
}

int aed_db_prepare(struct aed_db *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return aed_db_error(db, "prepare");
	return AED_OK;
}

int aed_db_int(struct aed_db *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, sql, &st);
	if (rc)
		return rc;
	*out = 0;
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (s != SQLITE_DONE)
		rc = aed_db_error(db, "query");
	sqlite3_finalize(st);
	return rc;
}

/* aed_db_digest's staging buffer, hashed when full: whole rows of small
 * values cost one EVP call per 8 KB. */
struct digest {
	EVP_MD_CTX *ctx;
	unsigned char buf[8192];
	size_t used;
	int bad;
};

static void digest_put(struct digest *d, const void *p, size_t n)
{
	if (d->used + n > sizeof d->buf) {
		d->bad |= !EVP_DigestUpdate(d->ctx, d->buf, d->used);
		d->used = 0;
	}
	if (n > sizeof d->buf) {
		d->bad |= !EVP_DigestUpdate(d->ctx, p, n);
		return;
	}
	memcpy(d->buf + d->used, p, n);
	d->used += n;
}

int aed_db_digest(struct aed_db *db, const char *sql, unsigned char out[32])
{
	sqlite3_stmt *st = NULL;
	struct digest *d = calloc(1, sizeof *d);
	int rc = aed_db_prepare(db, sql, &st), s = SQLITE_DONE;
	if (!rc && (!d || !(d->ctx = EVP_MD_CTX_new()) ||
		    !EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL)))
		rc = aed_error(AED_ENOMEM, "out of memory");
	int64_t nc = rc ? 0 : sqlite3_column_count(st);
	/* Each row: its column count, then each value's type and 8 bytes (the
	 * integer, the real, or the length of the text or blob that follows). */
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		digest_put(d, &nc, 8);
		for (int i = 0; i < nc && !rc; i++) {
			unsigned char t = (unsigned char)sqlite3_column_type(st, i);
			int64_t v = 0;
			const void *p = NULL;
			if (t == SQLITE_INTEGER) {
				v = sqlite3_column_int64(st, i);
			} else if (t == SQLITE_FLOAT) {
				double x = sqlite3_column_double(st, i);
				memcpy(&v, &x, 8);
			} else if (t != SQLITE_NULL) {
				p = sqlite3_column_blob(st, i);
				v = sqlite3_column_bytes(st, i);
				if (!p && v)
					rc = aed_error(AED_ENOMEM, "out of memory reading a value");
			}
			digest_put(d, &t, 1);
			if (t != SQLITE_NULL)
				digest_put(d, &v, 8);
			if (p)
				digest_put(d, p, (size_t)v);
		}
	}
	if (!rc && s != SQLITE_DONE)
		rc = aed_db_error(db, "digest of a query");
	unsigned len = 0;
	if (!rc && (d->bad || !EVP_DigestUpdate(d->ctx, d->buf, d->used) ||
		    !EVP_DigestFinal_ex(d->ctx, out, &len)))
		rc = aed_error(AED_EINTERNAL, "SHA-256 failed");
	if (d)
		EVP_MD_CTX_free(d->ctx);
	free(d);
	sqlite3_finalize(st);
	return rc;
}

int aed_db_begin(struct aed_db *db)
{
	if (db->in_tx)
		return aed_error(AED_EINTERNAL, "nested transaction");
	int rc = aed_db_exec(db, "BEGIN IMMEDIATE");
	if (rc == AED_OK)
		db->in_tx = 1;
	return rc;
}

int aed_db_commit(struct aed_db *db)
{
	int rc = aed_db_exec(db, "COMMIT");
	if (rc != AED_OK) {
		aed_db_rollback(db);
		return rc;
	}
	db->in_tx = 0;
	return AED_OK;
}

void aed_db_rollback(struct aed_db *db)
{
	if (db && !sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	if (db)
		db->in_tx = 0;
}

int aed_db_meta_get(struct aed_db *db, const char *key, char **value)
{
	sqlite3_stmt *st;
	*value = NULL;
	int rc = aed_db_prepare(db, "SELECT value FROM meta WHERE key = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*value = strdup((const char *)sqlite3_column_text(st, 0));
		if (!*value)
			rc = aed_error(AED_ENOMEM, "out of memory");
	}
	sqlite3_finalize(st);
	return rc;
}

int aed_db_meta_set(struct aed_db *db, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, "INSERT INTO meta(key, value) VALUES(?, ?) "
				    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "meta");
	sqlite3_finalize(st);
	return rc;
}

/* SQL function aed_shard(key): the --shard hash, so SQL can filter by shard. */
static void sql_shard(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	(void)argc;
	const char *k = (const char *)sqlite3_value_text(argv[0]);
	sqlite3_result_int64(c, k ? aed_shard_hash(k) : 0);
}

/* Apply migrations newer than user_version, each in its own transaction. */
static int migrate(struct aed_db *db, int readonly)
{
	int64_t have;
	int rc = aed_db_int(db, "PRAGMA user_version", &have);
	if (rc)
		return rc;
	int want = aed_db_schema_version();
	if (have > want)
		return aed_error(AED_ESTATE,
				 "%s: database schema version %lld is newer than this aedcurate "
				 "understands (%d); use a newer aedcurate",
				 db->path, (long long)have, want);
	if (have == want)
		return AED_OK;
	if (readonly)
		return AED_ESTATE_MIGRATE;
	if (have == 0) {
		/* A fresh file, or someone else's SQLite database? */
		int64_t ntables;
		rc = aed_db_int(db, "SELECT count(*) FROM sqlite_schema", &ntables);
		if (rc)
			return rc;
		if (ntables > 0)
			return aed_error(AED_ESTATE,
					 "%s: an SQLite database that is not an aedcurate store "
					 "(it has tables but no schema version)", db->path);
	}
	for (size_t i = 0; i < N_MIGRATIONS; i++) {
		if (aed_migrations[i].version <= have)
			continue;
		if ((rc = aed_db_begin(db)))
			return rc;
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d",
			 aed_migrations[i].version);
		if ((rc = aed_db_exec(db, aed_migrations[i].sql)) ||
		    (rc = aed_db_exec(db, pragma))) {
			aed_db_rollback(db);
			return aed_error_prefix(rc, "migration %s", aed_migrations[i].name);
		}
		if ((rc = aed_db_commit(db)))
			return rc;
	}
	return AED_OK;
}

/* The folder holding path ("." for a bare file name), malloc'd; that of the
 * file a symbolic link points to, where SQLite puts -wal and -shm. */
static char *dir_of(const char *path)
{
	char *real = realpath(path, NULL), *dir = NULL;
	const char *p = real ? real : path, *slash = strrchr(p, '/');

	if (!slash)
		dir = strdup(".");
	else if (slash == p)
		dir = strdup("/");
	else
		dir = strndup(p, (size_t)(slash - p));
	free(real);
	return dir;
}

int aed_db_path_writable(const char *path)
{
	char *dir = dir_of(path);
	int ok = dir && access(dir, W_OK) == 0;

	if (ok && access(path, W_OK) != 0 && errno != ENOENT)
		ok = 0;
	free(dir);
	return ok;
}

/* Writing needs the file and its folder: SQLite creates <db>-wal and
 * <db>-shm beside the database (WAL mode) while any connection has it open.
 * Said up front, as "attempt to write a readonly database" does not say it. */
static int check_writable(const char *path)
{
	char *dir = dir_of(path);
	int rc = AED_OK;

	if (!dir)
		return aed_error(AED_ENOMEM, "out of memory");
	if (access(dir, W_OK) != 0 && errno != ENOENT)
		rc = aed_error(AED_EIO, "%s: this command writes the database, and its folder %s is not "
			       "writable: SQLite keeps %s-wal and %s-shm there while writing (make the "
			       "folder writable; status, show and dump only read)", path, dir, path, path);
	else if (access(path, W_OK) != 0 && errno != ENOENT)
		rc = aed_error(AED_EIO, "%s: this command writes the database, and the file is not "
			       "writable: %s", path, strerror(errno));
	free(dir);
	return rc;
}

/* "file:" URI of path with query (SQLite URIs percent-decode the path). */
static char *file_uri(const char *path, const char *query)
{
	size_t n = strlen(path);
	char *u = malloc(5 + 3 * n + strlen(query) + 1), *o = u;

	if (!u)
		return NULL;
	o += sprintf(o, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("/._~-", *p))
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	strcpy(o, query);
	return u;
}

static int open_handle(struct aed_db *db, int flags, int immutable)
{
	int oflags = (flags & AED_DB_READONLY) ? SQLITE_OPEN_READONLY
					       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	char *uri = NULL;
	int rc = AED_OK;

	if (immutable && !(uri = file_uri(db->path, "?immutable=1")))
		return aed_error(AED_ENOMEM, "out of memory");
	if (sqlite3_open_v2(uri ? uri : db->path, &db->h,
			    oflags | SQLITE_OPEN_NOMUTEX | (uri ? SQLITE_OPEN_URI : 0), NULL) != SQLITE_OK) {
		rc = aed_error(AED_EDB, "%s: %s", db->path,
			       db->h ? sqlite3_errmsg(db->h) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(db->h, 60000);
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_create_function(db->h, "aed_shard", 1,
				SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_shard, NULL, NULL);
out:
	free(uri);
	return rc;
}

/* A read-only handle. A WAL database is read through its -shm index, which
 * the first reader creates: in a folder this user cannot write that fails
 * ("attempt to write a readonly database") unless a writer has it open. Then,
 * with no -wal holding changes, the file itself is the whole database and is
 * opened immutable=1 (no locks, no -shm). Caveat: a process that can write
 * the folder and writes while this one reads is not seen, and may make this
 * read inconsistent; read-only commands are short and report, never decide.
 * With a -wal and no -shm (a writer died), reading needs the folder writable. */
static int open_readonly(struct aed_db *db, int flags)
{
	struct stat st;
	char *wal = NULL;
	int rc, ec;

	if ((rc = open_handle(db, flags, 0)))
		return rc;
	/* Also: SQLITE_NOTADB on a file that is not a database. */
	if (!(rc = aed_db_exec(db, "SELECT count(*) FROM sqlite_schema")))
		return AED_OK;
	ec = sqlite3_extended_errcode(db->h) & 0xff;
	if ((ec != SQLITE_READONLY && ec != SQLITE_CANTOPEN) || aed_db_path_writable(db->path))
		return rc;
	if (asprintf(&wal, "%s-wal", db->path) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	if (stat(wal, &st) == 0 && st.st_size > 0) {
		rc = aed_error(AED_EDB, "%s: cannot read: %s holds changes, and SQLite needs %s-shm to "
			       "read them, which it cannot create in a folder this user cannot write "
			       "(make the folder writable, or open the database once as its owner)",
			       db->path, wal, db->path);
		free(wal);
		return rc;
	}
	free(wal);
	sqlite3_close_v2(db->h);
	db->h = NULL;
	if ((rc = open_handle(db, flags, 1)))
		return rc;
	return aed_db_exec(db, "SELECT count(*) FROM sqlite_schema");
}

int aed_db_open(const char *path, int flags, struct aed_db **out)
{
	int rc = AED_OK;
	struct aed_db *db = calloc(1, sizeof *db);
	*out = NULL;
	if (!db)
		return aed_error(AED_ENOMEM, "out of memory");
	db->path = strdup(path);
	size_t n = strlen(path) + 16;
	db->array_dir = malloc(n);
	if (!db->path || !db->array_dir) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(db->array_dir, n, "%s.arrays", path);

	struct stat st;
	if (!(flags & AED_DB_CREATE) && stat(path, &st) != 0) {
		rc = aed_error(AED_ENOTFOUND,
			       "%s: no such database; create one with 'aedcurate init' "
			       "(or point --db / AEDCURATE_DB at an existing one)", path);
		goto fail;
	}
	if (flags & AED_DB_READONLY) {
		if ((rc = open_readonly(db, flags)))
			goto fail;
	} else {
		/* journal_mode fails with SQLITE_NOTADB on a file that is not a database. */
		if ((rc = check_writable(path)) || (rc = open_handle(db, flags, 0)) ||
		    (rc = aed_db_exec(db, "PRAGMA journal_mode = WAL")) ||
		    (rc = aed_db_exec(db, "PRAGMA synchronous = NORMAL")))
			goto fail;
	}
	if ((rc = aed_db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; "
				  "PRAGMA temp_store = MEMORY")))
		goto fail;
	if ((rc = migrate(db, flags & AED_DB_READONLY)) == AED_ESTATE_MIGRATE) {
		/* An older database opened by a reading command: migrate it once
		 * (a writable open), then read as asked. */
		struct aed_db *rw = NULL;
		if ((rc = aed_db_open(path, 0, &rw))) {
			aed_error_prefix(rc, "the database's schema is older than this aedcurate's "
					 "(%d) and must be migrated once, which writes it", aed_db_schema_version());
			goto fail;
		}
		aed_db_free(&rw);
		rc = migrate(db, 1);
		if (rc == AED_ESTATE_MIGRATE)
			rc = aed_error(AED_ESTATE, "%s: schema still behind after migrating", path);
	}
	if (rc)
		goto fail;
	*out = db;
	return AED_OK;
fail:
	aed_db_free(&db);
	return rc;
}

void aed_db_free(struct aed_db **pdb)
{
	struct aed_db *db = *pdb;
	if (!db)
		return;
	if (db->h) {
		aed_db_rollback(db);
		sqlite3_close_v2(db->h);
	}
	free(db->path);
	free(db->array_dir);
	free(db);
	*pdb = NULL;
}
