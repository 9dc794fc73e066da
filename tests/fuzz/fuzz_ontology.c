/* fuzz_ontology.c - libFuzzer target for the ontology parsers (ontology_file.h:
 * src/format/ontology_json.c, class_labels.c): every input is parsed as
 * ontology.json, as class_labels_indices.csv and, line by line, as
 * positive-example URLs. A parsed ontology is walked to check its invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/ontology_file.h"

static void check_ontology(const struct aed_ontology *o)
{
	size_t *idx = malloc(o->n_classes * sizeof *idx), i, k, n, total = 0, edges = 0;
	int *depth = malloc(o->n_classes * sizeof *depth);

	if (!idx || !depth)
		abort();
	for (i = 0; i < o->n_classes; i++) {
		const struct aed_onto_class *c = &o->classes[i];

		if (!c->mid[0] || !c->name[0] || aed_ontology_find(o, c->mid) != (long)i)
			abort();
		for (k = 0; k < c->n_children; k++)
			if (c->children[k] >= o->n_classes || c->children[k] == i)
				abort();
		for (k = 0; k < c->n_examples; k++)
			if (c->examples[k].end_ms <= c->examples[k].start_ms)
				abort();
		edges += c->n_children;
		if (i >= 256) /* bound the quadratic part on large inputs */
			continue;
		if (aed_ontology_descendants(o, i, idx, depth, &n) || n == 0 || idx[0] != i)
			abort();
		for (k = 1; k < n; k++)
			if (idx[k] == i || depth[k] < depth[k - 1]) /* acyclic, breadth first */
				abort();
		total += n;
	}
	if (edges != o->n_edges || (o->n_classes <= 256 && total != o->n_closure))
		abort();
	free(idx);
	free(depth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aed_ontology *o = NULL;
	struct aed_class_labels *l = NULL;
	char *s, *line, *save = NULL;

	if (aed_ontology_parse((const char *)data, size, "fuzz.json", &o) == AED_OK) {
		check_ontology(o);
		aed_ontology_free(&o);
	} else if (o || !aed_last_error()[0]) {
		abort(); /* a failure leaves no object and always says why */
	}

	if (aed_class_labels_parse((const char *)data, size, "fuzz.csv", &l) == AED_OK) {
		size_t i;

		for (i = 0; i < l->n; i++)
			if (l->rows[i].index < 0 || !l->rows[i].mid[0] || l->rows[i].line == 0)
				abort();
		aed_class_labels_free(&l);
	} else if (l) {
		abort();
	}

	if (!(s = malloc(size + 1)))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char ytid[AED_ONTO_MAX_YTID + 1];
		int64_t a, b;

		if (aed_youtube_example_parse(line, ytid, &a, &b) == AED_OK &&
		    (!ytid[0] || strlen(ytid) > AED_ONTO_MAX_YTID || a < 0 || b <= a))
			abort();
	}
	free(s);
	return 0;
}
