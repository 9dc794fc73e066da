/* internal.h - what the files of the network layer share (the one-shot source
 * reader and the downloader); not a public interface. */
#ifndef AEDCURATE_NET_INTERNAL_H
#define AEDCURATE_NET_INTERNAL_H

/* Run curl_global_init() once per process (pthread_once). Returns AED_OK, or
 * AED_ENET with a message when libcurl could not initialise. */
int aed_curl_global_init(void);

#endif
