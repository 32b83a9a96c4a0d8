/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxyd's Prometheus endpoint: libmicrohttpd serving GET /metrics,
 * driven from the daemon's own epoll loop (no thread of its own): the
 * daemon adds np_metrics_http_fd() to its epoll set and calls
 * np_metrics_http_run() when it is readable and when
 * np_metrics_http_timeout() expires. Pages are made by a callback, in that
 * loop, so the proxy is never read while something else changes it; what
 * takes long to read (every flow's counters) is read elsewhere meanwhile,
 * the request held (suspended) until it is done.
 */
#ifndef NATPROXY_METRICS_HTTP_H
#define NATPROXY_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* A malloc'd page of *len bytes, or NULL (answered 500). */
typedef char *(*np_metrics_page_fn)(void *arg, size_t *len);
/* A request came: the number of the read its page waits for (the page is
 * made once np_metrics_http_ready() says it is done), or 0: made now. */
typedef uint64_t (*np_metrics_begin_fn)(void *arg);

struct np_metrics_http;

/* Listens on @addr; 0 or -errno (logged). begin may be NULL (every page
 * made at once). */
int np_metrics_http_start(struct np_metrics_http **out,
			  const struct np_sockaddr *addr,
			  np_metrics_page_fn page, np_metrics_begin_fn begin,
			  void *arg);
/* Reads up to done are done: the requests waiting for them are answered
 * (at the next np_metrics_http_run()). */
void np_metrics_http_ready(struct np_metrics_http *h, uint64_t done);
/* The descriptor to poll for input. */
int np_metrics_http_fd(const struct np_metrics_http *h);
/* Milliseconds until np_metrics_http_run() is due anyway, -1: not. */
int np_metrics_http_timeout(const struct np_metrics_http *h);
void np_metrics_http_run(struct np_metrics_http *h);
/* Closes every connection and the listening socket; NULL is fine. */
void np_metrics_http_stop(struct np_metrics_http *h);

#endif
