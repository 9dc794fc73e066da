/* init.c - `aedcurate init`: create the database (WAL, schema) or migrate one. */
#include <stdio.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

static const struct aed_cmd_spec spec = {
	.name = "init",
	.summary = "Create the stage store (default ./aedcurate.db) or migrate an older one.",
	.details = "The database holds the ontology, segments, labels, every stage run and\n"
		   "per-item work state; bulk arrays go to <db>.arrays/. Running init on an\n"
		   "existing database is harmless: it only applies pending migrations.",
	.max_args = 0,
};

int cmd_init(struct aed_ctx *ctx, int argc, char **argv)
{
	int rc = aed_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (rc)
		return rc;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_CREATE)))
		return rc;
	if (ctx->g.json)
		printf("{\"db\": \"%s\", \"schema_version\": %d}\n", aed_db_path(ctx->db),
		       aed_db_schema_version());
	else
		aed_info("%s: schema version %d", aed_db_path(ctx->db), aed_db_schema_version());
	return AED_OK;
}
