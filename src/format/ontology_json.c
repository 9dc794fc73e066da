/* ontology_json.c - ontology.json parsed and validated in memory (format and
 * limits in ontology_file.h): the classes, their child_ids DAG (refused when
 * it dangles, repeats or cycles), their positive examples, the size of the
 * descendant closure. The first thing on a clip's way from a CSV row to a
 * shard: every label names one of these classes. Pure, no database: storing
 * is the ontology stage (src/stage/ontology.c). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/ontology_file.h"
#include "aedcurate/strmap.h"
#include "aedcurate/util.h"

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
		return aed_error(AED_EFORMAT, "\"%s\": expected youtu.be/ID?start=S&end=E",
				 aed_msg_clip(s));
	id = p += 9;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
		p++;
	n = (size_t)(p - id);
	if (n == 0 || n > AED_ONTO_MAX_YTID)
		return aed_error(AED_EFORMAT, "\"%s\": the video id must be 1 to %d "
				 "letters, digits, '_' or '-'", aed_msg_clip(s), AED_ONTO_MAX_YTID);
	if (*p != '?')
		return aed_error(AED_EFORMAT, "\"%s\": expected '?' after the video id",
				 aed_msg_clip(s));
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
			return aed_error(AED_EFORMAT, "\"%s\": %s given twice", aed_msg_clip(s),
					 dst == &start ? "start" : "end");
		if (!parse_seconds(&p, &v) || (*p && *p != '&'))
			return aed_error(AED_EFORMAT, "\"%s\": %s must be seconds (digits, "
					 "up to 3 decimals)", aed_msg_clip(s),
					 dst == &start ? "start" : "end");
		*dst = v;
	}
	if (*p)
		return aed_error(AED_EFORMAT, "\"%s\": unexpected text after the query",
				 aed_msg_clip(s));
	if (start < 0 || end < 0)
		return aed_error(AED_EFORMAT, "\"%s\": needs both start= and end=",
				 aed_msg_clip(s));
	if (end <= start)
		return aed_error(AED_EFORMAT, "\"%s\": end is not after start", aed_msg_clip(s));
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
				 aed_msg_clip(w->mid), what);
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
int aed_ontology_mid_ok(const char *s)
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
	if (!aed_ontology_mid_ok(c->mid))
		return class_error(&w, AED_EFORMAT, "id \"%s\" contains a space, control "
				   "character, comma, quote or non-ASCII byte",
				   aed_msg_clip(c->mid));
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
						   "(known: abstract, blacklist)", aed_msg_clip(r));
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
								aed_msg_clip(w.mid), k + 1)
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
static int resolve_children(struct aed_ontology *o, json_t *root, const struct aed_strmap *ids,
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

			if (!aed_strmap_get(ids, cid, &j)) {
				if (n_bad++ < AED_MSG_MAX_LISTED)
					aed_msg_add(msg, sizeof msg, "%s class #%zu (%s) lists "
						    "child \"%s\", which is no class in the file",
						    n_bad > 1 ? ";" : "", i + 1,
						    aed_msg_clip(c->mid), aed_msg_clip(cid));
				continue;
			}
			for (m = 0; m < c->n_children; m++)
				if (c->children[m] == j)
					break;
			if (m < c->n_children) {
				if (n_bad++ < AED_MSG_MAX_LISTED)
					aed_msg_add(msg, sizeof msg, "%s class #%zu (%s) lists "
						    "child %s twice", n_bad > 1 ? ";" : "", i + 1,
						    aed_msg_clip(c->mid), aed_msg_clip(cid));
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
				 n_bad > AED_MSG_MAX_LISTED ? "; ..." : "");
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
						aed_msg_add(msg, sizeof msg, "%s -> ",
							    aed_msg_clip(o->classes[stack[k]].mid));
					aed_msg_add(msg, sizeof msg, "%s",
						    aed_msg_clip(o->classes[ch].mid));
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
size_t aed_ontology_walk(const struct aed_ontology *o, size_t i, size_t *mark, size_t stamp,
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
	*n = aed_ontology_walk(o, i, mark, 1, idx, depth);
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
		total += aed_ontology_walk(o, i, mark, i + 1, idx, depth);
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
	struct aed_strmap ids = {0};
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

	if ((rc = aed_strmap_init(&ids, o->n_classes)))
		goto out;
	for (i = 0; i < o->n_classes; i++) {
		size_t first;

		if (!aed_strmap_put(&ids, o->classes[i].mid, i, &first) &&
		    n_dup++ < AED_MSG_MAX_LISTED)
			aed_msg_add(msg, sizeof msg, "%s %s (classes #%zu and #%zu)",
				    n_dup > 1 ? ";" : "", aed_msg_clip(o->classes[i].mid),
				    first + 1, i + 1);
	}
	if (n_dup) {
		rc = aed_error(AED_EFORMAT, "%s: %zu duplicate id%s:%s%s", name, n_dup,
			       n_dup > 1 ? "s" : "", msg,
			       n_dup > AED_MSG_MAX_LISTED ? "; ..." : "");
		goto out;
	}
	if ((rc = resolve_children(o, root, &ids, name)) ||
	    (rc = check_acyclic(o, name)) ||
	    (rc = count_closure(o, name)))
		goto out;
	*out = o;
	o = NULL;
out:
	aed_strmap_release(&ids);
	json_decref(root);
	aed_ontology_free(&o);
	return rc;
}
