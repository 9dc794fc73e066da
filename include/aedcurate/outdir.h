/* outdir.h - output folders an export owns (`export --out`, `review export
 * --out`): the tool deletes or overwrites only files it wrote there itself.
 *
 * Every export writes, before any other file, a list FOLDER/.aedcurate-files:
 *
 *     aedcurate-files 1 KIND\n           KIND: "training-export", "review-page"
 *     NAME\n ...                         one file a line, relative to FOLDER
 *
 * A NAME is a relative path of plain components ([A-Za-z0-9._-]+, at most one
 * '/', none "." or ".."), at most 255 bytes. The list written first names the
 * files of the earlier export too (so that a killed export can be cleaned up
 * by the next); once done, the export removes the earlier export's files it
 * did not write again (and their NAME.tmp) and lists its own files only.
 *
 * A folder is taken only when it does not exist, is empty, or holds a list of
 * the same KIND; anything else (a folder of other files, an export of the
 * other kind, a damaged list) is refused untouched, with a message naming it.
 *
 * Ownership: struct aed_outdir is filled by aed_outdir_claim() and released
 * by aed_outdir_release(); names passed in are copied as needed.
 */
#ifndef AEDCURATE_OUTDIR_H
#define AEDCURATE_OUTDIR_H

#include <stddef.h>

#define AED_OUTDIR_LIST ".aedcurate-files"
#define AED_OUTDIR_NAME_MAX 255

struct aed_outdir {
	char *dir, *kind;
	char **old;   /* files the earlier export listed (sorted) */
	size_t n_old;
};

/* Create DIR if missing; refuse it (AED_ESTATE, DIR named) unless it is empty
 * or holds an export of this kind, whose file list is read into o->old. */
int aed_outdir_claim(const char *dir, const char *kind, struct aed_outdir *o);
/* Before writing: list the earlier export's files and these (names valid as
 * above, else AED_EFORMAT). */
int aed_outdir_begin(struct aed_outdir *o, const char *const *names, size_t n);
/* After writing: remove the earlier export's files not among these, then
 * list these only. */
int aed_outdir_finish(struct aed_outdir *o, const char *const *names, size_t n);
void aed_outdir_release(struct aed_outdir *o);

#endif
