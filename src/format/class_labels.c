/* class_labels.c - class_labels_indices.csv parsed and validated in memory
 * (format in ontology_file.h): the trainable classes and the output index of
 * each, which the shards and the classifier's outputs follow on a clip's way
 * from a CSV row to a shard. Pure, no database: storing the indexes is the
 * ontology stage (src/stage/ontology.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/ontology_file.h"
#include "aedcurate/strmap.h"

void aed_class_labels_free(struct aed_class_labels **pl)
{
	struct aed_class_labels *l = pl ? *pl : NULL;
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->rows[i].mid);
		free(l->rows[i].display_name);
	}
	free(l->rows);
	free(l);
	*pl = NULL;
}

/* Split one CSV line (no newline inside) into at most max fields, RFC 4180
 * quoting. Field text is written into buf (same size as the line + 1).
 * Returns the field count, or -1 for a quoting error. */
static int csv_split(const char *line, size_t len, char *buf, char **fields, int max)
{
	size_t i = 0;
	char *o = buf;
	int nf = 0;

	while (1) {
		if (nf == max)
			return max + 1;
		fields[nf++] = o;
		if (i < len && line[i] == '"') {
			i++;
			while (1) {
				if (i >= len)
					return -1;
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						*o++ = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				*o++ = line[i++];
			}
			if (i < len && line[i] != ',')
				return -1;
		} else {
			while (i < len && line[i] != ',') {
				if (line[i] == '"')
					return -1;
				*o++ = line[i++];
			}
		}
		*o++ = '\0';
		if (i >= len)
			return nf;
		i++; /* the comma */
	}
}

static int cmp_row_index(const void *a, const void *b)
{
	const struct aed_class_label *x = *(const struct aed_class_label *const *)a;
	const struct aed_class_label *y = *(const struct aed_class_label *const *)b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* No mid and no index twice; the first duplicates are named with their
 * lines. */
static int check_duplicates(const struct aed_class_labels *l, const char *name)
{
	struct aed_class_label **byidx = NULL;
	struct aed_strmap mids = {0};
	char msg[2048] = "";
	size_t i, n_bad = 0;
	int rc;

	/* duplicate mids, then duplicate indexes */
	if ((rc = aed_strmap_init(&mids, l->n)))
		goto out;
	for (i = 0; i < l->n; i++) {
		size_t first;

		if (!aed_strmap_put(&mids, l->rows[i].mid, i, &first) &&
		    n_bad++ < AED_MSG_MAX_LISTED)
			aed_msg_add(msg, sizeof msg, "%s mid %s on lines %zu and %zu",
				    n_bad > 1 ? ";" : "", aed_msg_clip(l->rows[i].mid),
				    l->rows[first].line, l->rows[i].line);
	}
	if (!(byidx = malloc(l->n * sizeof *byidx))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < l->n; i++)
		byidx[i] = &l->rows[i];
	qsort(byidx, l->n, sizeof *byidx, cmp_row_index);
	for (i = 1; i < l->n; i++)
		if (byidx[i]->index == byidx[i - 1]->index && n_bad++ < AED_MSG_MAX_LISTED)
			aed_msg_add(msg, sizeof msg, "%s index %ld on lines %zu and %zu",
				    n_bad > 1 ? ";" : "", byidx[i]->index, byidx[i - 1]->line,
				    byidx[i]->line);
	if (n_bad)
		rc = aed_error(AED_EFORMAT, "%s: %zu duplicate%s:%s%s", name, n_bad,
			       n_bad > 1 ? "s" : "", msg,
			       n_bad > AED_MSG_MAX_LISTED ? "; ..." : "");
out:
	aed_strmap_release(&mids);
	free(byidx);
	return rc;
}

int aed_class_labels_parse(const char *data, size_t n, const char *name,
			   struct aed_class_labels **out)
{
	struct aed_class_labels *l = NULL;
	char *buf = NULL, *fields[4];
	size_t pos = 0, line = 0, cap = 0;
	int rc = AED_OK;

	*out = NULL;
	if (!name)
		name = "labels";
	if (n > AED_LABELS_MAX_SOURCE) {
		rc = aed_error(AED_ENOMEM, "%s: %zu bytes, over the %u-byte limit", name, n,
			       AED_LABELS_MAX_SOURCE);
		goto out;
	}
	if (!(l = calloc(1, sizeof *l)) || !(buf = malloc(n + 1))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < n) {
		const char *s = data + pos, *nl = memchr(s, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - s) : n - pos;
		struct aed_class_label *r;
		char *end;
		int nf;

		pos += len + (nl != NULL);
		line++;
		if (len && s[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		if (memchr(s, '\0', len)) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: NUL byte in a text file", name, line);
			goto out;
		}
		nf = csv_split(s, len, buf, fields, 3);
		if (nf < 0) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: bad quoting", name, line);
			goto out;
		}
		if (nf != 3) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: expected 3 fields "
				       "(index,mid,display_name), found %s%d", name, line,
				       nf > 3 ? "more than " : "", nf > 3 ? 3 : nf);
			goto out;
		}
		if (l->n == 0 && strcasecmp(fields[0], "index") == 0 &&
		    strcasecmp(fields[1], "mid") == 0)
			continue; /* the header */
		if (!isdigit((unsigned char)fields[0][0]) || strlen(fields[0]) > 9) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: index \"%s\" is not a non-negative "
				       "integer", name, line, aed_msg_clip(fields[0]));
			goto out;
		}
		if (fields[1][0] == '\0' || !aed_ontology_mid_ok(fields[1]) ||
		    strlen(fields[1]) > AED_ONTO_MAX_MID) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: \"%s\" is not a mid", name, line,
				       aed_msg_clip(fields[1]));
			goto out;
		}
		if (l->n == cap) {
			size_t nc = cap ? 2 * cap : 1024;
			void *p = realloc(l->rows, nc * sizeof *l->rows);

			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			l->rows = p;
			cap = nc;
		}
		r = &l->rows[l->n];
		memset(r, 0, sizeof *r);
		r->index = strtol(fields[0], &end, 10);
		if (*end) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: index \"%s\" is not a non-negative "
				       "integer", name, line, aed_msg_clip(fields[0]));
			goto out;
		}
		r->line = line;
		r->mid = strdup(fields[1]);
		r->display_name = strdup(fields[2]);
		l->n++;
		if (!r->mid || !r->display_name) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (l->n == 0) {
		rc = aed_error(AED_EFORMAT, "%s: no rows", name);
		goto out;
	}

	if ((rc = check_duplicates(l, name)))
		goto out;
	*out = l;
	l = NULL;
out:
	free(buf);
	aed_class_labels_free(&l);
	return rc;
}
