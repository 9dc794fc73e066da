/* ontology_file.h - the AudioSet ontology's files parsed into memory (pure,
 * no database): ontology.json, the class DAG with its positive examples, and
 * class_labels_indices.csv, the trainable classes' output indexes. On a
 * clip's way from a CSV row to a shard they come first: every label of a
 * segment names one of these classes. Storing them is the ontology stage
 * (ontology.h); looking classes up in the store is class.h.
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
 * every string inside is owned by the object. Every function returning an int
 * returns an enum aed_status and records a message on failure.
 * Code: src/format/ontology_json.c, src/format/class_labels.c.
 */
#ifndef AEDCURATE_ONTOLOGY_FILE_H
#define AEDCURATE_ONTOLOGY_FILE_H

#include <stddef.h>
#include <stdint.h>

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

/* Breadth-first walk from class i, as aed_ontology_descendants() but with
 * the caller's mark[] (o->n_classes entries): a class is seen when mark[j] ==
 * stamp, so one zeroed array serves a walk from every class (stamp i + 1).
 * Fills idx/depth in visit order and returns how many. */
size_t aed_ontology_walk(const struct aed_ontology *o, size_t i, size_t *mark, size_t stamp,
			 size_t *idx, int *depth);

/* A mid: printable ASCII without spaces, commas or quotes (1 if so). */
int aed_ontology_mid_ok(const char *s);

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

#endif
