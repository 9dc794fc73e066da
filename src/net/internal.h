/* internal.h - helpers shared by the tool's network code (the one-shot source
 * reader and the fetch stage's downloader); not a public interface. */
#ifndef AEDCURATE_NET_INTERNAL_H
#define AEDCURATE_NET_INTERNAL_H

/* Run curl_global_init() once per process (pthread_once). Returns AED_OK, or
 * AED_ENET with a message when libcurl could not initialise. */
int aed_curl_global_init(void);

/* "file:///abs/p%20q" or "file://localhost/abs/p%20q" -> "/abs/p q" (malloc'd
 * into *out). Other hosts and bad escapes are AED_EUSAGE naming the URL. */
int aed_file_url_path(const char *url, char **out);

#endif
