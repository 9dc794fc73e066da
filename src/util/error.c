/* error.c - thread-local error messages for enum aed_status. */
#include <stdio.h>
#include <string.h>

#include "aedcurate/error.h"

static _Thread_local char last_msg[4096];

static const char *const status_names[AED_STATUS_COUNT] = {
	[AED_OK] = "ok",
	[AED_EUSAGE] = "usage error",
	[AED_EIO] = "I/O error",
	[AED_EFORMAT] = "format error",
	[AED_ENOMEM] = "out of memory or over a size limit",
	[AED_ENOTFOUND] = "not found",
	[AED_EDB] = "database error",
	[AED_ENET] = "network error",
	[AED_ESTATE] = "refused",
	[AED_EMEDIA] = "media error",
	[AED_EINTERNAL] = "internal error",
};

const char *aed_status_str(int status)
{
	if (status < 0 || status >= AED_STATUS_COUNT)
		return "unknown error";
	return status_names[status];
}

int aed_verror(int status, const char *fmt, va_list ap)
{
	vsnprintf(last_msg, sizeof last_msg, fmt, ap);
	return status;
}

int aed_error(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	aed_verror(status, fmt, ap);
	va_end(ap);
	return status;
}

int aed_error_prefix(int status, const char *fmt, ...)
{
	char prefix[1000], old[sizeof last_msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, last_msg, sizeof old);
	snprintf(last_msg, sizeof last_msg, "%s: %.3000s", prefix, old);
	return status;
}

const char *aed_last_error(void)
{
	return last_msg;
}

int aed_exit_code(int status)
{
	if (status == AED_OK)
		return 0;
	return status == AED_EUSAGE ? 2 : 1;
}
