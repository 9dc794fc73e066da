/* ontology.h - the ontology stage: ontology.json and class_labels_indices.csv
 * read from a path or URL, parsed (ontology_file.h) and stored in the stage
 * store in one transaction, as a versioned run. On a clip's way from a CSV
 * row to a shard it comes first: segments ingest matches each label's mid to
 * a stored class. Looking the stored classes up: class.h.
 *
 * Ownership: functions taking a struct aed_db only borrow it. Every function
 * returns an enum aed_status and records a message on failure.
 */
#ifndef AEDCURATE_ONTOLOGY_H
#define AEDCURATE_ONTOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/ontology_file.h"

struct aed_db;

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

#endif
