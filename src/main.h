/* main.h - the command table (src/cmd/table.c), shared by main() and the
 * pipeline runner, which runs pipeline steps through the same dispatch. */
#ifndef AEDCURATE_MAIN_H
#define AEDCURATE_MAIN_H

#include <stdio.h>

#include "aedcurate/cli.h"

#define AED_VERSION "0.1.0"

struct aed_command {
	const char *name;  /* one or two words: "status", "segments ingest" */
	int (*fn)(struct aed_ctx *ctx, int argc, char **argv);
	const char *summary;
};

const struct aed_command *aed_commands(void);
void aed_commands_usage(FILE *f);
/* Run argv (argv[0] is the first word of a command) as the command line would. */
int aed_dispatch(struct aed_ctx *ctx, int argc, char **argv);

#endif
