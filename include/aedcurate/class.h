/* class.h - looking up the classes of the stored ontology: what a user typed
 * to a class id, a mid to an id and back, a class's descendants and
 * ancestors. Every stage that takes a class (mine, review, refine, eval,
 * segments list) calls these, on the store the ontology stage filled
 * (ontology.h); on a clip's way from a CSV row to a shard they name the class
 * each later step is about.
 *
 * Ownership: functions taking a struct aed_db only borrow it; id arrays and
 * strings returned are malloc'd and belong to the caller. Every function
 * returns an enum aed_status and records a message on failure.
 * Code: src/store/class.c.
 */
#ifndef AEDCURATE_CLASS_H
#define AEDCURATE_CLASS_H

#include <stddef.h>
#include <stdint.h>

struct aed_db;

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
