/* eval_mine_internal.h - private to the eval mine stage (eval_mine.c,
 * eval_mine_rounds.c): a list of segment keys, the ranking of a class's
 * pool by the mine stage, the oracle, and the simulated review rounds. Not
 * a public header. Functions returning int return an enum aed_status and
 * record a message on failure. */
#ifndef AEDCURATE_STAGE_EVAL_MINE_INTERNAL_H
#define AEDCURATE_STAGE_EVAL_MINE_INTERNAL_H

#include <stdint.h>

#include "aedcurate/mine.h"

struct aed_db;

/* Segment keys (exemplars, rankings), each malloc'd. */
struct keys {
	char **v;
	int n, cap;
};

/* --- eval_mine.c ---------------------------------------------------------------- */
int eval_mine_keys_push(struct keys *k, const char *s);
void eval_mine_keys_release(struct keys *k);
/* Mine the class (mid) from exemplars ex alone with method, keeping the k
 * best candidates; record 0: nothing stored (aed_mine_opts.no_record). */
int eval_mine_rank_pool(struct aed_db *db, const struct aed_eval_mine_opts *o, const char *mid,
			const struct keys *ex, enum aed_mine_method method, int k, int record,
			struct aed_mine_result *r);
int eval_mine_oracle(struct aed_db *db, int64_t class_id, const struct aed_mine_candidate *c,
		     int n, uint8_t *rel);

/* --- eval_mine_rounds.c ------------------------------------------------------- */
/* Refuses a class with ratings, decisions or verified labels already. */
int eval_mine_check_unreviewed(struct aed_db *db, int64_t class_id, const char *name);
int eval_mine_trial_rounds(struct aed_db *db, const struct aed_eval_mine_opts *o,
			   int64_t class_id, const char *mid, const struct keys *ex,
			   struct aed_eval_mine_trial *tr, int last);

#endif
