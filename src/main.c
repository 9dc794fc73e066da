/* main.c - the entry point: the one place that prints the final error and
 * exits. The command table is in src/cmd/table.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "main.h"

int main(int argc, char **argv)
{
	struct aed_ctx ctx = { 0 };
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		aed_commands_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("aedcurate %s (schema %d)\n", AED_VERSION, aed_db_schema_version());
		return 0;
	}
	/* Global options may come before the command: "aedcurate --db x.db status".
	 * Move them after it, where every command's parser accepts them. */
	char **args = calloc((size_t)argc + 1, sizeof *args);
	if (!args)
		return 1;
	int lead = 1, n = 0;
	while (lead < argc && argv[lead][0] == '-' && strcmp(argv[lead], "--")) {
		lead += aed_global_takes_value(argv[lead]) && lead + 1 < argc ? 2 : 1;
	}
	for (int i = lead; i < argc; i++)
		args[n++] = argv[i];
	for (int i = 1; i < lead; i++)
		args[n++] = argv[i];
	if (lead >= argc) {
		fprintf(stderr, "aedcurate: usage error: no command (see aedcurate --help)\n");
		free(args);
		return 2;
	}
	int rc = aed_dispatch(&ctx, n, args);
	aed_db_free(&ctx.db);
	aed_parse_release();
	free(args);
	if (rc != AED_OK) {
		if (aed_help_requested())
			return 0;
		const char *msg = aed_last_error();
		fprintf(stderr, "aedcurate: %s%s%s\n", aed_status_str(rc), *msg ? ": " : "", msg);
	}
	return aed_exit_code(rc);
}
