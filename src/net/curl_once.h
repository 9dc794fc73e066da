/* curl_once.h - libcurl's process-wide initialisation, done exactly once and
 * thread-safely for every part of the tool that makes transfers (the one-shot
 * source reader and the fetch stage's parallel downloader). */
#ifndef AEDCURATE_NET_CURL_ONCE_H
#define AEDCURATE_NET_CURL_ONCE_H

/* Run curl_global_init() once per process (pthread_once). Returns AED_OK, or
 * AED_ENET with a message when libcurl could not initialise. */
int aed_curl_global_init(void);

#endif
