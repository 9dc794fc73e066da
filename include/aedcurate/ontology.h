/* ontology.h - the AudioSet ontology: parsing ontology.json and
 * class_labels_indices.csv into memory (pure, no database), storing them in
 * the stage store, and the class look-ups every later stage uses.
 *
 * ontology.json (https://github.com/audioset/ontology) is a JSON array of
 * objects, one per class:
 *   { "id": "/m/012xff",                       mid, unique, required
 *     "name": "Toothbrush",                    display name, required
 *     "description": "...", "citation_uri": "...",          optional strings
 *     "positive_examples": ["youtu.be/ID?start=S&end=E", ...] optional
 *     "child_ids": ["/m/04fgwm", ...],         the DAG; a class may have
 *                                              several parents
 *     "restrictions": ["abstract", "blacklist"] }            optional
 * The parser refuses, naming the offending items: JSON syntax errors (with
 * jansson's line and column), duplicate keys, a top level that is not an
 * array, wrong types, unknown restrictions, malformed examples, duplicate ids,
 * child ids that name no class, a class listing the same child twice, cycles,
 * fields over the size limits below, and a descendant closure over
 * AED_ONTO_MAX_CLOSURE rows. Unknown keys are ignored and counted.
 *
 * class_labels_indices.csv: a header line "index,mid,display_name", then one
 * row per trainable class: `0,/m/09x0r,"Speech"` (RFC 4180 quoting).
 *
 * Ownership: aed_ontology_parse() and aed_class_labels_parse() return heap
 * objects the caller frees with aed_ontology_free(&o) / aed_class_labels_free(&l);
 * every string inside is owned by the object. Functions taking a struct aed_db
 * only borrow it. Every function returns an enum aed_status and records a
 * message on failure.
 */
#ifndef AEDCURATE_ONTOLOGY_H
#define AEDCURATE_ONTOLOGY_H

#include <stddef.h>
#include <stdint.h>

struct aed_db;

/* Limits on hostile input (bytes unless noted). */
#define AED_ONTO_MAX_SOURCE      (64u << 20)  /* whole ontology.json */
#define AED_ONTO_MAX_MID         256
#define AED_ONTO_MAX_NAME        1024
#define AED_ONTO_MAX_DESCRIPTION 65536
#define AED_ONTO_MAX_URI         8192
#define AED_ONTO_MAX_YTID        64
#define AED_ONTO_MAX_CLOSURE     5000000      /* (ancestor, descendant) rows */
#define AED_LABELS_MAX_SOURCE    (16u << 20)  /* class_labels_indices.csv */

/* --- parsed ontology ------------------------------------------------------ */
struct aed_onto_example {
	char *ytid;               /* YouTube video id */
	int64_t start_ms, end_ms; /* ms into the video; end > start */
};

struct aed_onto_class {
	char *mid, *name, *description, *citation_uri; /* "" when absent */
	int is_abstract, is_blacklist;
	size_t *children;         /* indexes into aed_ontology.classes, file order */
	size_t n_children;
	size_t n_parents;
	struct aed_onto_example *examples; /* file order; duplicates kept */
	size_t n_examples;
};

struct aed_ontology {
	struct aed_onto_class *classes; /* file order */
	size_t n_classes;
	size_t n_abstract, n_blacklist, n_edges, n_examples;
	size_t n_closure;               /* rows of the reflexive closure */
	size_t n_unknown_keys;          /* object keys the format does not define */
	char first_unknown_key[64];     /* the first of them, truncated; "" if none */
	char sha256[65];                /* of the raw bytes parsed */
};

/* Parse and validate ontology.json from memory. `name` (a path or URL) is
 * used in messages only: "NAME:3:17: ..." for syntax errors,
 * "NAME: class #12 (/m/abc): ..." for content (classes count from 1). */
int aed_ontology_parse(const char *data, size_t n, const char *name,
		       struct aed_ontology **out);
void aed_ontology_free(struct aed_ontology **o);

/* Index of the class with this mid, or -1. O(n). */
long aed_ontology_find(const struct aed_ontology *o, const char *mid);

/* Descendants of class i, i itself first at depth 0, breadth first: fills
 * idx[k] and depth[k] (each an array of o->n_classes entries, caller's) and
 * *n. depth is the shortest path length. The ontology must have been
 * validated by aed_ontology_parse (no cycles). */
int aed_ontology_descendants(const struct aed_ontology *o, size_t i,
			     size_t *idx, int *depth, size_t *n);

/* Parse a positive example "youtu.be/ID?start=S&end=E" (also with an
 * http(s):// prefix; S and E in seconds, up to 3 decimals; the query
 * parameters in any order). ytid gets up to AED_ONTO_MAX_YTID bytes + NUL. */
int aed_youtube_example_parse(const char *s, char ytid[AED_ONTO_MAX_YTID + 1],
			      int64_t *start_ms, int64_t *end_ms);

/* --- class_labels_indices.csv --------------------------------------------- */
struct aed_class_label {
	long index;        /* output index of the trainable class, >= 0 */
	char *mid;
	char *display_name;
	size_t line;       /* 1-based line in the file */
};

struct aed_class_labels {
	struct aed_class_label *rows;
	size_t n;
};

/* Parse and validate: header line, three fields per row, index a
 * non-negative integer, no duplicate index or mid (errors name the lines). */
int aed_class_labels_parse(const char *data, size_t n, const char *name,
			   struct aed_class_labels **out);
void aed_class_labels_free(struct aed_class_labels **l);

/* --- ingest into the store ------------------------------------------------ */
struct aed_ontology_ingest_opts {
	const char *source;  /* path, file:// or http(s):// URL; NULL: AED_ONTOLOGY_URL */
	const char *labels;  /* class_labels_indices.csv source, or NULL */
	long timeout_s;      /* whole transfer of each source; 0: net.h default */
};
/* Everything 0 or NULL: the official ontology, net.h's timeouts (120 s a
 * transfer, 15 s to connect, 30 s without data). */
static inline void aed_ontology_ingest_opts_init(struct aed_ontology_ingest_opts *o)
{
	*o = (struct aed_ontology_ingest_opts){ 0 };
}

#define AED_ONTOLOGY_URL "https://raw.githubusercontent.com/audioset/ontology/master/ontology.json"

struct aed_ontology_ingest_result {
	int unchanged;            /* same sha256 as the latest version: nothing written */
	int64_t version_id;       /* the ontology_version row (the latest, if unchanged) */
	int64_t run_id;           /* 0 when nothing was written */
	char sha256[65];
	size_t n_classes, n_abstract, n_blacklist, n_edges, n_examples, n_closure;
	size_t n_added, n_updated, n_removed, n_same; /* classes, by mid */
	size_t n_labels;          /* label_index values set (0 without --labels) */
	int labels_changed;       /* --labels changed some label_index */
	size_t n_unknown_keys;
	char first_unknown_key[64];
};

/* Read the sources, parse and validate them, and store the ontology in one
 * transaction: classes are updated in place by mid (their ids stay stable),
 * new mids are added, the edges, closure and examples are rebuilt, and
 * classes missing from the new file are deleted - unless labels or strong
 * labels reference them, in which case the whole ingest is refused. With
 * labels, every class.label_index is set from the file (NULL for mids it does
 * not list); a mid the ontology lacks is refused with its line number.
 * The ingest is recorded in ontology_version and as a run of stage
 * "ontology". On any error nothing is written (a refusal found after the run
 * began leaves only that failed run). Re-ingesting the latest version's bytes
 * writes nothing at all (result.unchanged), unless labels change. */
int aed_ontology_ingest(struct aed_db *db, const struct aed_ontology_ingest_opts *opts,
			struct aed_ontology_ingest_result *res);

/* Store an already-parsed ontology (and optional labels). `source` and the
 * ontology's sha256 go to ontology_version. Same contract as above, without
 * the run bookkeeping. */
int aed_ontology_store(struct aed_db *db, const struct aed_ontology *o,
		       const struct aed_class_labels *labels, const char *source,
		       struct aed_ontology_ingest_result *res);

/* --- look-ups ------------------------------------------------------------- */
/* Resolve what a user typed to a class id. Every command taking a class
 * (--class of mine, refine, eval refine, review export/status, segments
 * list; ontology show and tree) calls this and nothing else, so a mid, a
 * name and a name in another case reach the same class everywhere. Blanks
 * around the text are ignored; then, first match wins: an exact mid
 * ("/m/01b_21"); a mid in any case ("/M/01B_21"); a whole name in any case
 * ("cough", and "toothbrush" -> /m/012xff, never "Electric toothbrush"); the
 * only class whose name contains the text in any case ("ic toothbr").
 * Several candidates at a step: AED_ENOTFOUND, the message listing them
 * ("mid  name", up to 10). No match: AED_ENOTFOUND naming the text and
 * pointing to `aedcurate ontology search`. Empty text: AED_EUSAGE. No
 * ontology: AED_ESTATE. */
int aed_class_resolve(struct aed_db *db, const char *name_or_mid, int64_t *class_id);

int aed_class_id_by_mid(struct aed_db *db, const char *mid, int64_t *class_id);
/* *mid and *name malloc'd (either pointer may be NULL if not wanted). */
int aed_class_mid_name(struct aed_db *db, int64_t class_id, char **mid, char **name);

/* SQL selecting the class ids of a class and all its descendants, with the
 * ancestor's id bound as parameter ?1:
 *   "... WHERE l.class_id IN (" AED_CLASS_SUBTREE_SQL ")"
 * A clip labelled Electric toothbrush thereby counts for Toothbrush. */
#define AED_CLASS_SUBTREE_SQL \
	"SELECT descendant_id FROM class_closure WHERE ancestor_id = ?1"

/* The ids of a class and all its descendants (itself first, then by depth
 * and id). *ids malloc'd. */
int aed_class_descendants(struct aed_db *db, int64_t class_id, int64_t **ids, size_t *n);
/* The ids of a class and all its ancestors (itself first, then by depth). */
int aed_class_ancestors(struct aed_db *db, int64_t class_id, int64_t **ids, size_t *n);

#endif
