/* options.c - the export's option strings: --split, --balance, --payload and
 * --keep-split parsed into struct aed_export_opts (export.h). Parsing only;
 * defaults are filled in when the export starts (export.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/export.h"

static int valid_split_name(const char *s, size_t n)
{
	if (!n || n >= 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

int aed_export_parse_splits(const char *s, struct aed_export_opts *o)
{
	const char *p = s;
	double sum = 0;

	o->n_splits = 0;
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end || !valid_split_name(p, (size_t)(eq - p)))
			return aed_error(AED_EUSAGE, "--split '%s': expected NAME=FRACTION,... with names "
					 "of letters, digits, '_' or '-'", s);
		if (o->n_splits == AED_EXPORT_MAX_SPLITS)
			return aed_error(AED_EUSAGE, "--split '%s': at most %d splits", s,
					 AED_EXPORT_MAX_SPLITS);
		struct aed_export_split *sp = &o->splits[o->n_splits];
		memcpy(sp->name, p, (size_t)(eq - p));
		sp->name[eq - p] = '\0';
		char num[64], *e;
		size_t nl = (size_t)(end - eq - 1);
		if (nl == 0 || nl >= sizeof num)
			return aed_error(AED_EUSAGE, "--split '%s': no fraction for %s", s, sp->name);
		memcpy(num, eq + 1, nl);
		num[nl] = '\0';
		sp->fraction = strtod(num, &e);
		if (*e || !(sp->fraction > 0) || !isfinite(sp->fraction))
			return aed_error(AED_EUSAGE, "--split '%s': fraction '%s' of %s must be > 0", s, num,
					 sp->name);
		for (int i = 0; i < o->n_splits; i++)
			if (!strcmp(o->splits[i].name, sp->name))
				return aed_error(AED_EUSAGE, "--split '%s': %s given twice", s, sp->name);
		sum += sp->fraction;
		o->n_splits++;
		p = *end ? end + 1 : end;
	}
	if (!o->n_splits)
		return aed_error(AED_EUSAGE, "--split: empty");
	for (int i = 0; i < o->n_splits; i++)
		o->splits[i].fraction /= sum;
	return AED_OK;
}

int aed_export_parse_balance(const char *s, int64_t *min, int64_t *max)
{
	const char *p = s;

	*min = 0;
	*max = 0;
	while (*p) {
		char *e;
		int is_min = !strncmp(p, "min=", 4), is_max = !strncmp(p, "max=", 4);
		if (!is_min && !is_max)
			return aed_error(AED_EUSAGE, "--balance '%s': expected min=N,max=M", s);
		long long v = strtoll(p + 4, &e, 10);
		if (e == p + 4 || (*e && *e != ',') || v < 0)
			return aed_error(AED_EUSAGE, "--balance '%s': %s needs a count >= 0", s,
					 is_min ? "min" : "max");
		*(is_min ? min : max) = v;
		p = *e ? e + 1 : e;
	}
	if (*max && *min > *max)
		return aed_error(AED_EUSAGE, "--balance '%s': min %lld is above max %lld", s,
				 (long long)*min, (long long)*max);
	return AED_OK;
}

int aed_export_parse_payload(const char *s, unsigned *payload)
{
	const char *p = s;

	*payload = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 5 && !strncmp(p, "audio", 5))
			*payload |= AED_PAYLOAD_AUDIO;
		else if (n == 6 && !strncmp(p, "logmel", 6))
			*payload |= AED_PAYLOAD_LOGMEL;
		else if (n == 9 && !strncmp(p, "embedding", 9))
			*payload |= AED_PAYLOAD_EMBEDDING;
		else
			return aed_error(AED_EUSAGE, "--payload '%s': '%.*s' is not audio, logmel or "
					 "embedding", s, (int)n, p);
		p += n;
		if (*p)
			p++;
	}
	if (!*payload)
		return aed_error(AED_EUSAGE, "--payload: empty");
	return AED_OK;
}

int aed_export_parse_keep(const char *s, struct aed_export_opts *o)
{
	const char *p = s;

	o->n_keep = 0;
	o->keep_set = 1;
	if (!strcmp(s, "none"))
		return AED_OK;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *eq = memchr(p, '=', n);
		if (!eq || !valid_split_name(p, (size_t)(eq - p)) ||
		    !valid_split_name(eq + 1, (size_t)(p + n - eq - 1)))
			return aed_error(AED_EUSAGE, "--keep-split '%s': expected INGEST=EXPORT,... (split "
					 "names) or none", s);
		if (o->n_keep == AED_EXPORT_MAX_KEEP)
			return aed_error(AED_EUSAGE, "--keep-split '%s': at most %d rules", s,
					 AED_EXPORT_MAX_KEEP);
		struct aed_export_keep *k = &o->keep[o->n_keep++];
		snprintf(k->from, sizeof k->from, "%.*s", (int)(eq - p), p);
		snprintf(k->to, sizeof k->to, "%.*s", (int)(p + n - eq - 1), eq + 1);
		p += n;
		if (*p)
			p++;
	}
	if (!o->n_keep)
		return aed_error(AED_EUSAGE, "--keep-split: empty (say none to keep no split)");
	return AED_OK;
}
