/* pipeline_shard.c - a pipeline split for shards: which steps form the
 * [shard] block, and the block's steps given `--shard I/N` (pipeline.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/pipeline.h"

int aed_pipeline_shard_block(const struct aed_pipeline *p, const char *path, int *first, int *end)
{
	int a = -1, b = -1;
	for (int i = 0; i < p->n_steps; i++) {
		if (!p->steps[i].shard)
			continue;
		if (b >= 0 && b != i)
			return aed_error(AED_EFORMAT, "%s:%d: step '%s' is marked [shard] but '%s' "
					 "above it is not: the [shard] steps must follow each other",
					 path, p->steps[i].line, p->steps[i].name, p->steps[i - 1].name);
		if (a < 0)
			a = i;
		b = i + 1;
	}
	if (a < 0)
		return aed_error(AED_ENOTFOUND, "%s: no step is marked [shard] (write 'step NAME "
				 "[shard]: ...' on the per-segment stages to split)", path);
	*first = a;
	*end = b;
	return AED_OK;
}

int aed_pipeline_set_shard(struct aed_pipeline *p, int index, int count)
{
	char arg[32];
	if (count < 1 || index < 0 || index >= count)
		return aed_error(AED_EINTERNAL, "pipeline: shard %d/%d out of range", index, count);
	snprintf(arg, sizeof arg, "%d/%d", index, count);
	for (int i = 0; i < p->n_steps; i++) {
		struct aed_pipeline_step *s = &p->steps[i];
		if (!s->shard)
			continue;
		char **argv = realloc(s->argv, (size_t)(s->argc + 3) * sizeof *argv);
		if (!argv)
			return aed_error(AED_ENOMEM, "out of memory");
		s->argv = argv;
		size_t n = strlen(s->text) + sizeof " --shard " + strlen(arg);
		char *text = malloc(n);
		char *a0 = strdup("--shard"), *a1 = strdup(arg);
		if (!text || !a0 || !a1) {
			free(text);
			free(a0);
			free(a1);
			return aed_error(AED_ENOMEM, "out of memory");
		}
		argv[s->argc++] = a0;
		argv[s->argc++] = a1;
		argv[s->argc] = NULL;
		snprintf(text, n, "%s --shard %s", s->text, arg);
		free(s->text);
		s->text = text;
	}
	return AED_OK;
}
