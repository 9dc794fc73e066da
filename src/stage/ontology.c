/* ontology.c - the ontology stage: parse and validate ontology.json and
 * class_labels_indices.csv in memory, store them in one transaction, and look
 * classes up by mid or name. Printing belongs to src/cmd/ontology.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "aedcurate/ontology.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define MAX_LISTED 10 /* offending items named in one message */

/* --- small helpers -------------------------------------------------------- */

/* Append printf output to a fixed message buffer, truncating quietly. */
static void msg_add(char *m, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void msg_add(char *m, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(m);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(m + len, cap - len, fmt, ap);
	va_end(ap);
}

/* A string for a message: at most 80 bytes, so hostile input cannot drown
 * the message. Uses one of four rotating static buffers. */
static const char *clip(const char *s)
{
	static _Thread_local char bufs[4][96];
	static _Thread_local int k;
	char *b = bufs[k++ & 3];
	size_t n = strlen(s);

	if (n <= 80)
		return s;
	memcpy(b, s, 77);
	/* do not cut a UTF-8 sequence in half */
	n = 77;
	while (n > 0 && ((unsigned char)b[n] & 0xC0) == 0x80)
		n--;
	memcpy(b + n, "...", 4);
	return b;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Open-addressing map from a string to an index; keys are borrowed. */
struct strmap {
	const char **keys;
	size_t *vals;
	size_t cap; /* power of two */
};

static int strmap_init(struct strmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 1)
		m->cap <<= 1;
	m->keys = calloc(m->cap, sizeof *m->keys);
	m->vals = calloc(m->cap, sizeof *m->vals);
	if (!m->keys || !m->vals)
		return aed_error(AED_ENOMEM, "out of memory for a map of %zu names", n);
	return AED_OK;
}

static void strmap_release(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/* Insert key -> val; if the key is present returns 0 and its value in *old. */
static int strmap_put(struct strmap *m, const char *key, size_t val, size_t *old)
{
	size_t i = fnv1a(key) & (m->cap - 1);

	while (m->keys[i]) {
		if (strcmp(m->keys[i], key) == 0) {
			*old = m->vals[i];
			return 0;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	return 1;
}

static int strmap_get(const struct strmap *m, const char *key, size_t *val)
{
	size_t i;

	if (!m->cap)
		return 0;
	for (i = fnv1a(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], key) == 0) {
			*val = m->vals[i];
			return 1;
		}
	return 0;
}

/* --- positive examples ---------------------------------------------------- */

/* Seconds with up to 3 decimals -> ms. *p advances past the number. */
static int parse_seconds(const char **p, int64_t *ms)
{
	const char *s = *p;
	int64_t v = 0;
	int digits = 0, frac = 0;

	while (isdigit((unsigned char)*s)) {
		if (++digits > 9)
			return 0;
		v = v * 10 + (*s++ - '0');
	}
	if (!digits)
		return 0;
	v *= 1000;
	if (*s == '.') {
		int scale = 100;

		s++;
		while (isdigit((unsigned char)*s)) {
			if (++frac > 3)
				return 0;
			v += (*s++ - '0') * scale;
			scale /= 10;
		}
		if (!frac)
			return 0;
	}
	*p = s;
	*ms = v;
	return 1;
}

int aed_youtube_example_parse(const char *s, char ytid[AED_ONTO_MAX_YTID + 1],
			      int64_t *start_ms, int64_t *end_ms)
{
	const char *p = s, *id;
	int64_t start = -1, end = -1;
	size_t n;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	if (strncmp(p, "youtu.be/", 9) != 0)
		return aed_error(AED_EFORMAT, "\"%s\": expected youtu.be/ID?start=S&end=E", clip(s));
	id = p += 9;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
		p++;
	n = (size_t)(p - id);
	if (n == 0 || n > AED_ONTO_MAX_YTID)
		return aed_error(AED_EFORMAT, "\"%s\": the video id must be 1 to %d "
				 "letters, digits, '_' or '-'", clip(s), AED_ONTO_MAX_YTID);
	if (*p != '?')
		return aed_error(AED_EFORMAT, "\"%s\": expected '?' after the video id", clip(s));
	while (*p == '?' || *p == '&') {
		int64_t *dst = NULL, v;

		p++;
		if (strncmp(p, "start=", 6) == 0)
			dst = &start, p += 6;
		else if (strncmp(p, "end=", 4) == 0)
			dst = &end, p += 4;
		if (!dst) { /* another parameter: skip it */
			while (*p && *p != '&')
				p++;
			continue;
		}
		if (*dst >= 0)
			return aed_error(AED_EFORMAT, "\"%s\": %s given twice", clip(s),
					 dst == &start ? "start" : "end");
		if (!parse_seconds(&p, &v) || (*p && *p != '&'))
			return aed_error(AED_EFORMAT, "\"%s\": %s must be seconds (digits, "
					 "up to 3 decimals)", clip(s), dst == &start ? "start" : "end");
		*dst = v;
	}
	if (*p)
		return aed_error(AED_EFORMAT, "\"%s\": unexpected text after the query", clip(s));
	if (start < 0 || end < 0)
		return aed_error(AED_EFORMAT, "\"%s\": needs both start= and end=", clip(s));
	if (end <= start)
		return aed_error(AED_EFORMAT, "\"%s\": end is not after start", clip(s));
	memcpy(ytid, id, n);
	ytid[n] = '\0';
	*start_ms = start;
	*end_ms = end;
	return AED_OK;
}

/* --- ontology.json -------------------------------------------------------- */

static void class_release(struct aed_onto_class *c)
{
	size_t k;

	free(c->mid);
	free(c->name);
	free(c->description);
	free(c->citation_uri);
	free(c->children);
	for (k = 0; k < c->n_examples; k++)
		free(c->examples[k].ytid);
	free(c->examples);
}

void aed_ontology_free(struct aed_ontology **po)
{
	struct aed_ontology *o = po ? *po : NULL;
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->n_classes; i++)
		class_release(&o->classes[i]);
	free(o->classes);
	free(o);
	*po = NULL;
}

long aed_ontology_find(const struct aed_ontology *o, const char *mid)
{
	size_t i;

	for (i = 0; i < o->n_classes; i++)
		if (strcmp(o->classes[i].mid, mid) == 0)
			return (long)i;
	return -1;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* Where a class is, for messages: "NAME: class #3 (/m/abc)". */
struct where {
	const char *name;
	size_t index;     /* 0-based */
	const char *mid;  /* NULL until known */
};

static int class_error(const struct where *w, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int class_error(const struct where *w, int status, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (w->mid)
		return aed_error(status, "%s: class #%zu (%s): %s", w->name, w->index + 1,
				 clip(w->mid), what);
	return aed_error(status, "%s: class #%zu: %s", w->name, w->index + 1, what);
}

/* A string field: copy it, check its type and length. */
static int get_string(const struct where *w, json_t *v, const char *key, size_t max,
		      int required, char **out)
{
	size_t len;

	if (!v) {
		if (required)
			return class_error(w, AED_EFORMAT, "missing \"%s\"", key);
		*out = strdup("");
		return *out ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
	}
	if (!json_is_string(v))
		return class_error(w, AED_EFORMAT, "\"%s\" must be a string, not %s", key,
				   json_type_name(v));
	len = json_string_length(v);
	if (len > max)
		return class_error(w, AED_EFORMAT, "\"%s\" is %zu bytes, over the limit of %zu",
				   key, len, max);
	if (required && len == 0)
		return class_error(w, AED_EFORMAT, "\"%s\" is empty", key);
	*out = strdup(json_string_value(v));
	return *out ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
}

/* A mid: printable ASCII without spaces, commas or quotes, so it survives
 * CSV, TSV and shell quoting downstream unchanged. */
static int mid_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == ',' || *s == '"')
			return 0;
	return 1;
}

static int get_string_array(const struct where *w, json_t *v, const char *key)
{
	size_t k;
	json_t *e;

	if (!json_is_array(v))
		return class_error(w, AED_EFORMAT, "\"%s\" must be an array, not %s", key,
				   json_type_name(v));
	json_array_foreach(v, k, e)
		if (!json_is_string(e))
			return class_error(w, AED_EFORMAT, "\"%s\"[%zu] must be a string, not %s",
					   key, k, json_type_name(e));
	return AED_OK;
}

/* Fill everything but the children of class c from object obj. */
static int parse_class(struct aed_ontology *o, const struct where *w0, json_t *obj,
		       struct aed_onto_class *c)
{
	struct where w = *w0;
	json_t *v, *e;
	const char *key;
	size_t k;
	int rc;

	if (!json_is_object(obj))
		return class_error(&w, AED_EFORMAT, "expected an object, not %s",
				   json_type_name(obj));
	if ((rc = get_string(&w, json_object_get(obj, "id"), "id", AED_ONTO_MAX_MID, 1, &c->mid)))
		return rc;
	if (!mid_ok(c->mid))
		return class_error(&w, AED_EFORMAT, "id \"%s\" contains a space, control "
				   "character, comma, quote or non-ASCII byte", clip(c->mid));
	w.mid = c->mid;
	if ((rc = get_string(&w, json_object_get(obj, "name"), "name", AED_ONTO_MAX_NAME, 1, &c->name)) ||
	    (rc = get_string(&w, json_object_get(obj, "description"), "description",
			     AED_ONTO_MAX_DESCRIPTION, 0, &c->description)) ||
	    (rc = get_string(&w, json_object_get(obj, "citation_uri"), "citation_uri",
			     AED_ONTO_MAX_URI, 0, &c->citation_uri)))
		return rc;

	if ((v = json_object_get(obj, "restrictions"))) {
		if ((rc = get_string_array(&w, v, "restrictions")))
			return rc;
		json_array_foreach(v, k, e) {
			const char *r = json_string_value(e);

			if (strcmp(r, "abstract") == 0)
				c->is_abstract = 1;
			else if (strcmp(r, "blacklist") == 0)
				c->is_blacklist = 1;
			else
				return class_error(&w, AED_EFORMAT, "unknown restriction \"%s\" "
						   "(known: abstract, blacklist)", clip(r));
		}
		o->n_abstract += c->is_abstract;
		o->n_blacklist += c->is_blacklist;
	}

	if ((v = json_object_get(obj, "positive_examples"))) {
		if ((rc = get_string_array(&w, v, "positive_examples")))
			return rc;
		c->examples = calloc(json_array_size(v) + 1, sizeof *c->examples);
		if (!c->examples)
			return aed_error(AED_ENOMEM, "out of memory");
		json_array_foreach(v, k, e) {
			char ytid[AED_ONTO_MAX_YTID + 1];
			struct aed_onto_example *x = &c->examples[c->n_examples];

			if ((rc = aed_youtube_example_parse(json_string_value(e), ytid,
							    &x->start_ms, &x->end_ms)))
				return w.mid ? aed_error_prefix(rc, "%s: class #%zu (%s): positive "
								"example #%zu", w.name, w.index + 1,
								clip(w.mid), k + 1)
					     : rc;
			if (!(x->ytid = strdup(ytid)))
				return aed_error(AED_ENOMEM, "out of memory");
			c->n_examples++;
		}
		o->n_examples += c->n_examples;
	}

	if ((v = json_object_get(obj, "child_ids")) &&
	    (rc = get_string_array(&w, v, "child_ids")))
		return rc;

	json_object_foreach(obj, key, v) {
		if (strcmp(key, "id") && strcmp(key, "name") && strcmp(key, "description") &&
		    strcmp(key, "citation_uri") && strcmp(key, "restrictions") &&
		    strcmp(key, "positive_examples") && strcmp(key, "child_ids")) {
			if (!o->n_unknown_keys++)
				snprintf(o->first_unknown_key, sizeof o->first_unknown_key,
					 "%s", key);
		}
	}
	return AED_OK;
}

/* Resolve child_ids to indexes: dangling ids and repeats are refused. */
static int resolve_children(struct aed_ontology *o, json_t *root, const struct strmap *ids,
			    const char *name)
{
	char msg[3072] = "";
	size_t i, k, n_bad = 0;
	json_t *obj, *v, *e;

	json_array_foreach(root, i, obj) {
		struct aed_onto_class *c = &o->classes[i];

		v = json_object_get(obj, "child_ids");
		if (!v || json_array_size(v) == 0)
			continue;
		c->children = calloc(json_array_size(v), sizeof *c->children);
		if (!c->children)
			return aed_error(AED_ENOMEM, "out of memory");
		json_array_foreach(v, k, e) {
			const char *cid = json_string_value(e);
			size_t j, m;

			if (!strmap_get(ids, cid, &j)) {
				if (n_bad++ < MAX_LISTED)
					msg_add(msg, sizeof msg, "%s class #%zu (%s) lists child "
						"\"%s\", which is no class in the file",
						n_bad > 1 ? ";" : "", i + 1, clip(c->mid), clip(cid));
				continue;
			}
			for (m = 0; m < c->n_children; m++)
				if (c->children[m] == j)
					break;
			if (m < c->n_children) {
				if (n_bad++ < MAX_LISTED)
					msg_add(msg, sizeof msg, "%s class #%zu (%s) lists child "
						"%s twice", n_bad > 1 ? ";" : "", i + 1,
						clip(c->mid), clip(cid));
				continue;
			}
			c->children[c->n_children++] = j;
			o->classes[j].n_parents++;
			o->n_edges++;
		}
	}
	if (n_bad)
		return aed_error(AED_EFORMAT, "%s: %zu bad child id%s:%s%s", name, n_bad,
				 n_bad > 1 ? "s" : "", msg,
				 n_bad > MAX_LISTED ? "; ..." : "");
	return AED_OK;
}

/* Depth-first search without recursion (hostile files may nest deeply);
 * a child that is still on the stack closes a cycle, which is named. */
static int check_acyclic(const struct aed_ontology *o, const char *name)
{
	size_t n = o->n_classes, s, top, k;
	unsigned char *color = calloc(n, 1); /* 0 new, 1 on the stack, 2 done */
	size_t *stack = malloc(n * sizeof *stack), *pos = malloc(n * sizeof *pos);
	int rc = AED_OK;

	if (!color || !stack || !pos) {
		rc = aed_error(AED_ENOMEM, "out of memory checking %zu classes for cycles", n);
		goto out;
	}
	for (s = 0; s < n; s++) {
		if (color[s])
			continue;
		top = 0;
		stack[0] = s;
		pos[0] = 0;
		color[s] = 1;
		while (1) {
			size_t t = stack[top];
			const struct aed_onto_class *c = &o->classes[t];

			if (pos[top] < c->n_children) {
				size_t ch = c->children[pos[top]++];

				if (color[ch] == 1) {
					char msg[2048] = "";

					for (k = 0; stack[k] != ch; k++)
						;
					for (; k <= top; k++)
						msg_add(msg, sizeof msg, "%s -> ",
							clip(o->classes[stack[k]].mid));
					msg_add(msg, sizeof msg, "%s", clip(o->classes[ch].mid));
					rc = aed_error(AED_EFORMAT, "%s: the child_ids graph has a "
						       "cycle: %s", name, msg);
					goto out;
				}
				if (color[ch] == 0) {
					color[ch] = 1;
					stack[++top] = ch;
					pos[top] = 0;
				}
				continue;
			}
			color[t] = 2;
			if (top == 0)
				break;
			top--;
		}
	}
out:
	free(color);
	free(stack);
	free(pos);
	return rc;
}

/* Breadth-first walk from class i. mark[] has one stamp per class; a class is
 * seen when mark[j] == stamp. Fills idx/depth in visit order. */
static size_t walk_down(const struct aed_ontology *o, size_t i, size_t *mark, size_t stamp,
			size_t *idx, int *depth)
{
	size_t head = 0, n = 1, k;

	idx[0] = i;
	depth[0] = 0;
	mark[i] = stamp;
	while (head < n) {
		const struct aed_onto_class *c = &o->classes[idx[head]];
		int d = depth[head++] + 1;

		for (k = 0; k < c->n_children; k++) {
			size_t ch = c->children[k];

			if (mark[ch] == stamp)
				continue;
			mark[ch] = stamp;
			idx[n] = ch;
			depth[n++] = d;
		}
	}
	return n;
}

int aed_ontology_descendants(const struct aed_ontology *o, size_t i,
			     size_t *idx, int *depth, size_t *n)
{
	size_t *mark;

	if (i >= o->n_classes)
		return aed_error(AED_EINTERNAL, "class index %zu out of range", i);
	if (!(mark = calloc(o->n_classes, sizeof *mark)))
		return aed_error(AED_ENOMEM, "out of memory");
	*n = walk_down(o, i, mark, 1, idx, depth);
	free(mark);
	return AED_OK;
}

/* Count the closure rows, refusing graphs whose closure is too big to store. */
static int count_closure(struct aed_ontology *o, const char *name)
{
	size_t n = o->n_classes, i, total = 0;
	size_t *mark = calloc(n, sizeof *mark), *idx = malloc(n * sizeof *idx);
	int *depth = malloc(n * sizeof *depth);
	int rc = AED_OK;

	if (!mark || !idx || !depth) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		total += walk_down(o, i, mark, i + 1, idx, depth);
		if (total > AED_ONTO_MAX_CLOSURE) {
			rc = aed_error(AED_ENOMEM, "%s: the descendant closure has more than "
				       "%d (ancestor, descendant) pairs; refusing so deep a "
				       "graph", name, AED_ONTO_MAX_CLOSURE);
			goto out;
		}
	}
	o->n_closure = total;
out:
	free(mark);
	free(idx);
	free(depth);
	return rc;
}

int aed_ontology_parse(const char *data, size_t n, const char *name,
		       struct aed_ontology **out)
{
	struct aed_ontology *o = NULL;
	struct strmap ids = {0};
	json_error_t jerr;
	json_t *root = NULL, *obj;
	char msg[2048] = "", o_sha[65]; /* of the file as it is, mark and all */
	size_t i, n_dup = 0;
	int rc = AED_OK;

	*out = NULL;
	if (!name)
		name = "ontology";
	if (n > AED_ONTO_MAX_SOURCE) {
		rc = aed_error(AED_ENOMEM, "%s: %zu bytes, over the %u-byte limit for an "
			       "ontology", name, n, AED_ONTO_MAX_SOURCE);
		goto out;
	}
	aed_sha256_hex(data, n, o_sha);
	/* A UTF-8 byte order mark (what some editors save) is not JSON; skipped,
	 * as the CSV reader and the labels file skip it, rather than refused
	 * with a message pointing at a character no editor shows. */
	if (n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
		data += 3;
		n -= 3;
	}
	root = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = aed_error(AED_EFORMAT, "%s:%d:%d: invalid JSON: %s", name, jerr.line,
			       jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_array(root)) {
		rc = aed_error(AED_EFORMAT, "%s: expected a JSON array of classes, not %s",
			       name, json_type_name(root));
		goto out;
	}
	if (json_array_size(root) == 0) {
		rc = aed_error(AED_EFORMAT, "%s: the array holds no classes", name);
		goto out;
	}
	if (!(o = calloc(1, sizeof *o)) ||
	    !(o->classes = calloc(json_array_size(root), sizeof *o->classes))) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	memcpy(o->sha256, o_sha, sizeof o_sha);
	json_array_foreach(root, i, obj) {
		struct where w = { name, i, NULL };

		o->n_classes = i + 1; /* so that free releases this one too */
		if ((rc = parse_class(o, &w, obj, &o->classes[i])))
			goto out;
	}

	if ((rc = strmap_init(&ids, o->n_classes)))
		goto out;
	for (i = 0; i < o->n_classes; i++) {
		size_t first;

		if (!strmap_put(&ids, o->classes[i].mid, i, &first) && n_dup++ < MAX_LISTED)
			msg_add(msg, sizeof msg, "%s %s (classes #%zu and #%zu)",
				n_dup > 1 ? ";" : "", clip(o->classes[i].mid), first + 1, i + 1);
	}
	if (n_dup) {
		rc = aed_error(AED_EFORMAT, "%s: %zu duplicate id%s:%s%s", name, n_dup,
			       n_dup > 1 ? "s" : "", msg, n_dup > MAX_LISTED ? "; ..." : "");
		goto out;
	}
	if ((rc = resolve_children(o, root, &ids, name)) ||
	    (rc = check_acyclic(o, name)) ||
	    (rc = count_closure(o, name)))
		goto out;
	*out = o;
	o = NULL;
out:
	strmap_release(&ids);
	json_decref(root);
	aed_ontology_free(&o);
	return rc;
}

/* --- class_labels_indices.csv --------------------------------------------- */

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

int aed_class_labels_parse(const char *data, size_t n, const char *name,
			   struct aed_class_labels **out)
{
	struct aed_class_labels *l = NULL;
	struct aed_class_label **byidx = NULL;
	struct strmap mids = {0};
	char *buf = NULL, *fields[4], msg[2048] = "";
	size_t pos = 0, line = 0, cap = 0, i, n_bad = 0;
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
				       "integer", name, line, clip(fields[0]));
			goto out;
		}
		if (fields[1][0] == '\0' || !mid_ok(fields[1]) || strlen(fields[1]) > AED_ONTO_MAX_MID) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: \"%s\" is not a mid", name, line,
				       clip(fields[1]));
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
				       "integer", name, line, clip(fields[0]));
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

	/* duplicate mids, then duplicate indexes */
	if ((rc = strmap_init(&mids, l->n)))
		goto out;
	for (i = 0; i < l->n; i++) {
		size_t first;

		if (!strmap_put(&mids, l->rows[i].mid, i, &first) && n_bad++ < MAX_LISTED)
			msg_add(msg, sizeof msg, "%s mid %s on lines %zu and %zu",
				n_bad > 1 ? ";" : "", clip(l->rows[i].mid),
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
		if (byidx[i]->index == byidx[i - 1]->index && n_bad++ < MAX_LISTED)
			msg_add(msg, sizeof msg, "%s index %ld on lines %zu and %zu",
				n_bad > 1 ? ";" : "", byidx[i]->index, byidx[i - 1]->line,
				byidx[i]->line);
	if (n_bad) {
		rc = aed_error(AED_EFORMAT, "%s: %zu duplicate%s:%s%s", name, n_bad,
			       n_bad > 1 ? "s" : "", msg, n_bad > MAX_LISTED ? "; ..." : "");
		goto out;
	}
	*out = l;
	l = NULL;
out:
	strmap_release(&mids);
	free(byidx);
	free(buf);
	aed_class_labels_free(&l);
	return rc;
}

/* --- storing -------------------------------------------------------------- */

/* Every label row must name a class of the ontology. */
static int check_labels(const struct aed_ontology *o, const struct aed_class_labels *l,
			const struct strmap *ids, const char *labels_name)
{
	char msg[2048] = "";
	size_t i, j, n_bad = 0;

	for (i = 0; i < l->n; i++)
		if (!strmap_get(ids, l->rows[i].mid, &j) && n_bad++ < MAX_LISTED)
			msg_add(msg, sizeof msg, "%s line %zu: %s", n_bad > 1 ? ";" : "",
				l->rows[i].line, clip(l->rows[i].mid));
	(void)o;
	if (n_bad)
		return aed_error(AED_ENOTFOUND, "%s: %zu mid%s not in the ontology:%s%s",
				 labels_name ? labels_name : "labels", n_bad,
				 n_bad > 1 ? "s" : "", msg, n_bad > MAX_LISTED ? "; ..." : "");
	return AED_OK;
}

static int ids_map(const struct aed_ontology *o, struct strmap *ids)
{
	size_t i, old;
	int rc = strmap_init(ids, o->n_classes);

	for (i = 0; !rc && i < o->n_classes; i++)
		strmap_put(ids, o->classes[i].mid, i, &old);
	return rc;
}

static int step_done(struct aed_db *db, sqlite3_stmt *st, const char *what)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != SQLITE_DONE && r != SQLITE_ROW)
		return aed_db_error(db, what);
	return AED_OK;
}

/* Does the labels file change any class.label_index? wanted[i] is the index
 * for ontology class i or -1. Classes absent from the database count as a
 * change. */
static int labels_differ(struct aed_db *db, const struct aed_ontology *o,
			 const struct strmap *ids, const long *wanted, int *differ)
{
	sqlite3_stmt *st = NULL;
	size_t seen = 0, j;
	int rc, r;

	*differ = 0;
	if ((rc = aed_db_prepare(db, "SELECT mid, label_index FROM class", &st)))
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		long have = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1
			    : (long)sqlite3_column_int64(st, 1);

		if (!mid || !strmap_get(ids, mid, &j) || wanted[j] != have) {
			*differ = 1;
			break;
		}
		seen++;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = aed_db_error(db, "reading class labels");
	else if (!*differ && seen != o->n_classes)
		*differ = 1;
	sqlite3_finalize(st);
	return rc;
}

/* Latest ontology_version: id and sha256 (0 and "" if none). */
static int latest_version(struct aed_db *db, int64_t *id, char sha[65])
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*id = 0;
	sha[0] = '\0';
	if ((rc = aed_db_prepare(db, "SELECT id, sha256 FROM ontology_version "
				 "ORDER BY id DESC LIMIT 1", &st)))
		return rc;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (r != SQLITE_DONE) {
		rc = aed_db_error(db, "reading ontology_version");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Classes in the database that the new file lacks: delete them, unless
 * labels reference them (then refuse, naming them). */
static int remove_missing(struct aed_db *db, const struct strmap *ids, const char *source,
			  size_t *n_removed)
{
	sqlite3_stmt *st = NULL, *del = NULL;
	char msg[2048] = "";
	size_t j, n_ref = 0;
	int64_t *gone = NULL;
	size_t n_gone = 0, cap = 0, k;
	int rc, r;

	*n_removed = 0;
	if ((rc = aed_db_prepare(db, "SELECT c.id, c.mid, c.name, "
				 "(SELECT count(*) FROM label WHERE class_id = c.id) + "
				 "(SELECT count(*) FROM strong_label WHERE class_id = c.id) "
				 "FROM class c ORDER BY c.id", &st)))
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 1);
		int64_t refs = sqlite3_column_int64(st, 3);

		if (mid && strmap_get(ids, mid, &j))
			continue;
		if (refs > 0) {
			if (n_ref++ < MAX_LISTED)
				msg_add(msg, sizeof msg, "%s %s \"%s\" (%lld labels)",
					n_ref > 1 ? ";" : "", clip(mid ? mid : ""),
					clip((const char *)sqlite3_column_text(st, 2)),
					(long long)refs);
			continue;
		}
		if (n_gone == cap) {
			void *p = realloc(gone, (cap = cap ? 2 * cap : 64) * sizeof *gone);

			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			gone = p;
		}
		gone[n_gone++] = sqlite3_column_int64(st, 0);
	}
	if (r != SQLITE_DONE) {
		rc = aed_db_error(db, "reading classes");
		goto out;
	}
	if (n_ref) {
		rc = aed_error(AED_ESTATE, "%s: refusing the update: %zu class%s missing from "
			       "the new ontology %s still labelled:%s%s", source, n_ref,
			       n_ref > 1 ? "es" : "", n_ref > 1 ? "are" : "is", msg,
			       n_ref > MAX_LISTED ? "; ..." : "");
		goto out;
	}
	/* edges, closure and examples are rebuilt afterwards; only the class rows go here */
	if ((rc = aed_db_prepare(db, "DELETE FROM class WHERE id = ?1", &del)))
		goto out;
	for (k = 0; k < n_gone; k++) {
		sqlite3_bind_int64(del, 1, gone[k]);
		if ((rc = step_done(db, del, "deleting a class")))
			goto out;
	}
	*n_removed = n_gone;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	free(gone);
	return rc;
}

static int text_eq(sqlite3_stmt *st, int col, const char *s)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t && strcmp(t, s) == 0;
}

/* Insert or update every class by mid; class_id[i] receives the row id. */
static int upsert_classes(struct aed_db *db, const struct aed_ontology *o, int64_t version_id,
			  int64_t *class_id, struct aed_ontology_ingest_result *res)
{
	sqlite3_stmt *get = NULL, *upd = NULL, *ins = NULL;
	size_t i;
	int rc;

	if ((rc = aed_db_prepare(db, "SELECT id, name, description, citation_uri, "
				 "is_abstract, is_blacklist FROM class WHERE mid = ?1", &get)) ||
	    (rc = aed_db_prepare(db, "UPDATE class SET name = ?2, description = ?3, "
				 "citation_uri = ?4, is_abstract = ?5, is_blacklist = ?6, "
				 "version_id = ?7 WHERE id = ?1", &upd)) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class (mid, name, description, "
				 "citation_uri, is_abstract, is_blacklist, version_id) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &ins)))
		goto out;
	for (i = 0; i < o->n_classes; i++) {
		const struct aed_onto_class *c = &o->classes[i];
		sqlite3_stmt *w;
		int r;

		sqlite3_bind_text(get, 1, c->mid, -1, SQLITE_STATIC);
		r = sqlite3_step(get);
		if (r == SQLITE_ROW) {
			class_id[i] = sqlite3_column_int64(get, 0);
			if (text_eq(get, 1, c->name) && text_eq(get, 2, c->description) &&
			    text_eq(get, 3, c->citation_uri) &&
			    sqlite3_column_int(get, 4) == c->is_abstract &&
			    sqlite3_column_int(get, 5) == c->is_blacklist) {
				res->n_same++;
				sqlite3_reset(get);
				continue;
			}
			w = upd;
			sqlite3_bind_int64(w, 1, class_id[i]);
			res->n_updated++;
		} else if (r == SQLITE_DONE) {
			w = ins;
			sqlite3_bind_text(w, 1, c->mid, -1, SQLITE_STATIC);
			res->n_added++;
		} else {
			rc = aed_db_error(db, "looking up a class");
			goto out;
		}
		sqlite3_reset(get);
		sqlite3_bind_text(w, 2, c->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 3, c->description, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 4, c->citation_uri, -1, SQLITE_STATIC);
		sqlite3_bind_int(w, 5, c->is_abstract);
		sqlite3_bind_int(w, 6, c->is_blacklist);
		sqlite3_bind_int64(w, 7, version_id);
		if ((rc = step_done(db, w, "storing a class")))
			goto out;
		if (w == ins)
			class_id[i] = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	}
out:
	sqlite3_finalize(get);
	sqlite3_finalize(upd);
	sqlite3_finalize(ins);
	return rc;
}

/* Rebuild class_edge, class_closure and class_example from the file. */
static int rebuild_graph(struct aed_db *db, const struct aed_ontology *o,
			 const int64_t *class_id)
{
	sqlite3_stmt *edge = NULL, *clo = NULL, *ex = NULL;
	size_t n = o->n_classes, i, k, m;
	size_t *mark = calloc(n, sizeof *mark), *idx = malloc(n * sizeof *idx);
	int *depth = malloc(n * sizeof *depth);
	int rc;

	if (!mark || !idx || !depth) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	/* The closure holds a row per (ancestor, descendant): n(n+1)/2 for a chain
	 * n deep (4.5 million for 3,000), whatever computes it. Storing them is
	 * what costs; the index on descendant_id is dropped and built again
	 * after (one sort) rather than updated row by row in random order. */
	if ((rc = aed_db_exec(db, "DELETE FROM class_edge; DELETE FROM class_closure; "
			      "DELETE FROM class_example; "
			      "DROP INDEX IF EXISTS class_closure_desc;")) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class_edge (parent_id, child_id, ord) "
				 "VALUES (?1, ?2, ?3)", &edge)) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class_closure (ancestor_id, descendant_id, "
				 "depth) VALUES (?1, ?2, ?3)", &clo)) ||
	    (rc = aed_db_prepare(db, "INSERT OR IGNORE INTO class_example (class_id, ytid, "
				 "start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)", &ex)))
		goto out;
	for (i = 0; i < n; i++) {
		const struct aed_onto_class *c = &o->classes[i];

		for (k = 0; k < c->n_children; k++) {
			sqlite3_bind_int64(edge, 1, class_id[i]);
			sqlite3_bind_int64(edge, 2, class_id[c->children[k]]);
			sqlite3_bind_int64(edge, 3, (int64_t)k);
			if ((rc = step_done(db, edge, "storing an edge")))
				goto out;
		}
		m = walk_down(o, i, mark, i + 1, idx, depth);
		for (k = 0; k < m; k++) {
			sqlite3_bind_int64(clo, 1, class_id[i]);
			sqlite3_bind_int64(clo, 2, class_id[idx[k]]);
			sqlite3_bind_int(clo, 3, depth[k]);
			if ((rc = step_done(db, clo, "storing the closure")))
				goto out;
		}
		for (k = 0; k < c->n_examples; k++) {
			sqlite3_bind_int64(ex, 1, class_id[i]);
			sqlite3_bind_text(ex, 2, c->examples[k].ytid, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ex, 3, c->examples[k].start_ms);
			sqlite3_bind_int64(ex, 4, c->examples[k].end_ms);
			if ((rc = step_done(db, ex, "storing an example")))
				goto out;
		}
	}
	/* as sql/0001_init.sql creates it */
	rc = aed_db_exec(db, "CREATE INDEX class_closure_desc ON class_closure(descendant_id)");
out:
	sqlite3_finalize(edge);
	sqlite3_finalize(clo);
	sqlite3_finalize(ex);
	free(mark);
	free(idx);
	free(depth);
	return rc;
}

static int store_labels(struct aed_db *db, const struct aed_class_labels *l)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	if ((rc = aed_db_exec(db, "UPDATE class SET label_index = NULL "
			      "WHERE label_index IS NOT NULL")) ||
	    (rc = aed_db_prepare(db, "UPDATE class SET label_index = ?1 WHERE mid = ?2", &st)))
		goto out;
	for (i = 0; i < l->n; i++) {
		sqlite3_bind_int64(st, 1, l->rows[i].index);
		sqlite3_bind_text(st, 2, l->rows[i].mid, -1, SQLITE_STATIC);
		if ((rc = step_done(db, st, "storing a label index")))
			goto out;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static void fill_counts(const struct aed_ontology *o, struct aed_ontology_ingest_result *res)
{
	res->n_classes = o->n_classes;
	res->n_abstract = o->n_abstract;
	res->n_blacklist = o->n_blacklist;
	res->n_edges = o->n_edges;
	res->n_examples = o->n_examples;
	res->n_closure = o->n_closure;
	res->n_unknown_keys = o->n_unknown_keys;
	memcpy(res->first_unknown_key, o->first_unknown_key, sizeof res->first_unknown_key);
	memcpy(res->sha256, o->sha256, sizeof res->sha256);
}

/* What an ingest would write: *unchanged when the bytes equal the latest
 * version's, *labels_change when a labels file changes some label_index. */
static int plan(struct aed_db *db, const struct aed_ontology *o,
		const struct aed_class_labels *l, const struct strmap *ids,
		int64_t *latest_id, int *unchanged, int *labels_change)
{
	char sha[65];
	long *wanted = NULL;
	size_t i, j;
	int rc;

	*unchanged = 0;
	*labels_change = 0;
	if ((rc = latest_version(db, latest_id, sha)))
		return rc;
	*unchanged = *latest_id && strcmp(sha, o->sha256) == 0;
	if (!l)
		return AED_OK;
	if (!(wanted = malloc(o->n_classes * sizeof *wanted)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < o->n_classes; i++)
		wanted[i] = -1;
	for (i = 0; i < l->n; i++)
		if (strmap_get(ids, l->rows[i].mid, &j))
			wanted[j] = l->rows[i].index;
	rc = labels_differ(db, o, ids, wanted, labels_change);
	free(wanted);
	return rc;
}

int aed_ontology_store(struct aed_db *db, const struct aed_ontology *o,
		       const struct aed_class_labels *labels, const char *source,
		       struct aed_ontology_ingest_result *res)
{
	struct strmap ids = {0};
	sqlite3_stmt *st = NULL;
	int64_t *class_id = NULL, latest = 0;
	int unchanged, labels_change, in_tx = 0, rc;
	char now[32];

	memset(res, 0, sizeof *res);
	fill_counts(o, res);
	if ((rc = ids_map(o, &ids)) ||
	    (labels && (rc = check_labels(o, labels, &ids, NULL))) ||
	    (rc = plan(db, o, labels, &ids, &latest, &unchanged, &labels_change)))
		goto out;
	res->n_labels = labels ? labels->n : 0;
	res->version_id = latest;
	if (unchanged && !labels_change) {
		res->unchanged = 1;
		res->n_same = o->n_classes;
		goto out;
	}
	if (!(class_id = calloc(o->n_classes, sizeof *class_id))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	if (!unchanged) {
		aed_utc_iso8601(now);
		if ((rc = aed_db_prepare(db, "INSERT INTO ontology_version (source, sha256, "
					 "n_classes, ingested_at) VALUES (?1, ?2, ?3, ?4)", &st)))
			goto out;
		sqlite3_bind_text(st, 1, source ? source : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, o->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)o->n_classes);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		if ((rc = step_done(db, st, "recording the ontology version")))
			goto out;
		res->version_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
		if ((rc = remove_missing(db, &ids, source ? source : "ontology", &res->n_removed)) ||
		    (rc = upsert_classes(db, o, res->version_id, class_id, res)) ||
		    (rc = rebuild_graph(db, o, class_id)))
			goto out;
	} else {
		res->unchanged = 1;
		res->n_same = o->n_classes;
	}
	if (labels && (rc = store_labels(db, labels)))
		goto out;
	res->labels_changed = labels_change;
	if ((rc = aed_db_commit(db)))
		goto out;
	in_tx = 0;
out:
	if (in_tx)
		aed_db_rollback(db);
	sqlite3_finalize(st);
	strmap_release(&ids);
	free(class_id);
	return rc;
}

static int read_source(const char *source, const struct aed_ontology_ingest_opts *opts,
		       size_t max_bytes, char **data, size_t *n)
{
	struct aed_source_opts so = {0};

	so.max_bytes = max_bytes;
	if (opts->timeout_s > 0) {
		so.timeout_s = opts->timeout_s;
		so.connect_timeout_s = opts->timeout_s < 15 ? opts->timeout_s : 15;
		so.low_speed_s = opts->timeout_s < 30 ? opts->timeout_s : 30;
	}
	return aed_source_read(source, &so, data, n);
}

int aed_ontology_ingest(struct aed_db *db, const struct aed_ontology_ingest_opts *opts,
			struct aed_ontology_ingest_result *res)
{
	const char *source = opts->source ? opts->source : AED_ONTOLOGY_URL;
	struct aed_ontology *o = NULL;
	struct aed_class_labels *labels = NULL;
	struct strmap ids = {0};
	json_t *params = NULL;
	char *data = NULL, *ldata = NULL, *pjson = NULL, *saved = NULL, note[256];
	size_t n = 0, ln = 0;
	int64_t run_id = 0, latest;
	int unchanged, labels_change, rc;

	memset(res, 0, sizeof *res);
	if ((rc = read_source(source, opts, AED_ONTO_MAX_SOURCE, &data, &n)) ||
	    (rc = aed_ontology_parse(data, n, source, &o)))
		goto out;
	if (opts->labels &&
	    ((rc = read_source(opts->labels, opts, AED_LABELS_MAX_SOURCE, &ldata, &ln)) ||
	     (rc = aed_class_labels_parse(ldata, ln, opts->labels, &labels))))
		goto out;
	if ((rc = ids_map(o, &ids)) ||
	    (labels && (rc = check_labels(o, labels, &ids, opts->labels))) ||
	    (rc = plan(db, o, labels, &ids, &latest, &unchanged, &labels_change)))
		goto out;
	if (unchanged && !labels_change) {
		/* nothing to write: not even a run */
		fill_counts(o, res);
		res->unchanged = 1;
		res->version_id = latest;
		res->n_same = o->n_classes;
		res->n_labels = labels ? labels->n : 0;
		goto out;
	}

	params = json_pack("{s:s, s:s?}", "source", source, "labels", opts->labels);
	if (!params || !(pjson = json_dumps(params, JSON_COMPACT))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_run_begin(db, "ontology", pjson, &run_id)))
		goto out;
	rc = aed_ontology_store(db, o, labels, source, res);
	if (rc) {
		saved = strdup(aed_last_error());
		aed_run_end(db, run_id, AED_RUN_FAILED, 0, 1, saved ? saved : "");
		aed_error(rc, "%s", saved ? saved : "ontology ingest failed");
		goto out;
	}
	res->run_id = run_id;
	snprintf(note, sizeof note, "%zu classes: %zu added, %zu updated, %zu removed%s",
		 res->n_classes, res->n_added, res->n_updated, res->n_removed,
		 res->labels_changed ? "; label indexes set" : "");
	rc = aed_run_end(db, run_id, AED_RUN_OK, (int64_t)res->n_classes, 0, note);
out:
	strmap_release(&ids);
	json_decref(params);
	free(pjson);
	free(saved);
	free(data);
	free(ldata);
	aed_ontology_free(&o);
	aed_class_labels_free(&labels);
	return rc;
}

/* --- look-ups ------------------------------------------------------------- */

int aed_class_id_by_mid(struct aed_db *db, const char *mid, int64_t *class_id)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((rc = aed_db_prepare(db, "SELECT id FROM class WHERE mid = ?1", &st)))
		return rc;
	sqlite3_bind_text(st, 1, mid, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*class_id = sqlite3_column_int64(st, 0);
	else if (r == SQLITE_DONE)
		rc = aed_error(AED_ENOTFOUND, "no class with mid %s", clip(mid));
	else
		rc = aed_db_error(db, "looking up a mid");
	sqlite3_finalize(st);
	return rc;
}

int aed_class_mid_name(struct aed_db *db, int64_t class_id, char **mid, char **name)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (mid)
		*mid = NULL;
	if (name)
		*name = NULL;
	if ((rc = aed_db_prepare(db, "SELECT mid, name FROM class WHERE id = ?1", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		if (mid && !(*mid = strdup((const char *)sqlite3_column_text(st, 0))))
			rc = aed_error(AED_ENOMEM, "out of memory");
		if (!rc && name && !(*name = strdup((const char *)sqlite3_column_text(st, 1))))
			rc = aed_error(AED_ENOMEM, "out of memory");
	} else if (r == SQLITE_DONE) {
		rc = aed_error(AED_ENOTFOUND, "no class with id %lld", (long long)class_id);
	} else {
		rc = aed_db_error(db, "looking up a class");
	}
	if (rc && mid) {
		free(*mid);
		*mid = NULL;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Run a query binding ?1 = text; count rows, keep the first id, list up to
 * MAX_LISTED candidates as "\n  mid  name" in msg. */
static int candidates(struct aed_db *db, const char *sql, const char *text, int64_t *first,
		      size_t *count, char *msg, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*count = 0;
	if ((rc = aed_db_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (*count == 0)
			*first = sqlite3_column_int64(st, 0);
		if (++*count <= MAX_LISTED)
			msg_add(msg, cap, "\n  %s  %s", (const char *)sqlite3_column_text(st, 1),
				clip((const char *)sqlite3_column_text(st, 2)));
	}
	if (r != SQLITE_DONE)
		rc = aed_db_error(db, "resolving a class");
	sqlite3_finalize(st);
	return rc;
}

/* The one resolver of every command's class argument (--class, ontology
 * show/tree): a user may paste a mid from a CSV row (", /m/01b_21"), type
 * a name in any case, or a part of a long name; all of them must reach the
 * same class whichever command they are given to. */
int aed_class_resolve(struct aed_db *db, const char *text, int64_t *class_id)
{
	static const char *const queries[] = {
		"SELECT id, mid, name FROM class WHERE mid = ?1",
		"SELECT id, mid, name FROM class WHERE mid = ?1 COLLATE NOCASE ORDER BY id",
		"SELECT id, mid, name FROM class WHERE name = ?1 COLLATE NOCASE ORDER BY id",
		("SELECT id, mid, name FROM class WHERE instr(lower(name), lower(?1)) > 0 "
		 "ORDER BY name COLLATE NOCASE, id"),
	};
	char msg[2048], want[AED_ONTO_MAX_NAME + 1];
	size_t q, count, len;
	int64_t first = 0, n_classes = 0;
	int rc;

	/* Surrounding blanks are never part of a mid or name. */
	while (text && (*text == ' ' || *text == '\t'))
		text++;
	len = text ? strlen(text) : 0;
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' ||
		       text[len - 1] == '\r'))
		len--;
	if (!len)
		return aed_error(AED_EUSAGE, "an empty class: give its name or its mid");
	if (len > AED_ONTO_MAX_NAME)
		return aed_error(AED_ENOTFOUND, "no class matches \"%s\": longer than any name or "
				 "mid", clip(text));
	memcpy(want, text, len);
	want[len] = '\0';
	if ((rc = aed_db_int(db, "SELECT count(*) FROM class", &n_classes)))
		return rc;
	if (n_classes == 0)
		return aed_error(AED_ESTATE, "no ontology in %s: run `aedcurate ontology "
				 "ingest` first", aed_db_path(db));
	for (q = 0; q < sizeof queries / sizeof *queries; q++) {
		msg[0] = '\0';
		if ((rc = candidates(db, queries[q], want, &first, &count, msg, sizeof msg)))
			return rc;
		if (count == 1) {
			*class_id = first;
			return AED_OK;
		}
		if (count > 1) {
			if (count > MAX_LISTED)
				msg_add(msg, sizeof msg, "\n  ... and %zu more", count - MAX_LISTED);
			return aed_error(AED_ENOTFOUND, "class \"%s\" is ambiguous: %zu classes "
					 "match; give a mid or a whole name:%s", clip(want), count,
					 msg);
		}
	}
	return aed_error(AED_ENOTFOUND, "no class matches \"%s\" by mid or name (any case); "
			 "look for it with `aedcurate ontology search WORD`", clip(want));
}

static int id_list(struct aed_db *db, const char *sql, int64_t class_id, int64_t **ids,
		   size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc, r;

	*ids = NULL;
	*n = 0;
	if ((rc = aed_db_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			void *p = realloc(*ids, (cap = cap ? 2 * cap : 16) * sizeof **ids);

			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			*ids = p;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && r != SQLITE_DONE)
		rc = aed_db_error(db, "reading the class closure");
	if (!rc && *n == 0)
		rc = aed_error(AED_ENOTFOUND, "class id %lld has no closure rows (not ingested?)",
			       (long long)class_id);
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int aed_class_descendants(struct aed_db *db, int64_t class_id, int64_t **ids, size_t *n)
{
	return id_list(db, "SELECT descendant_id FROM class_closure WHERE ancestor_id = ?1 "
		       "ORDER BY depth, descendant_id", class_id, ids, n);
}

int aed_class_ancestors(struct aed_db *db, int64_t class_id, int64_t **ids, size_t *n)
{
	return id_list(db, "SELECT ancestor_id FROM class_closure WHERE descendant_id = ?1 "
		       "ORDER BY depth, ancestor_id", class_id, ids, n);
}
