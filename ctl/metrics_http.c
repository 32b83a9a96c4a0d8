// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HTTP side of natproxyd's metrics: libmicrohttpd in external epoll
 * mode (MHD_USE_EPOLL without an internal thread), so requests are served
 * from natproxyd's loop, one at a time, between SIP messages. Only
 * GET/HEAD /metrics is served; a few connections at once, each timed out,
 * so a stuck scraper cannot hold the loop or its descriptors.
 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

#define MAX_CONNECTIONS 8
#define CONNECTION_TIMEOUT 10 /* seconds */

/* A request whose page waits for a read (suspended meanwhile). */
struct waiting {
	struct MHD_Connection *conn; /* NULL: resumed */
	uint64_t read;
};

struct np_metrics_http {
	struct MHD_Daemon *mhd;
	np_metrics_page_fn page;
	np_metrics_begin_fn begin;
	void *arg;
	int fd;
	uint64_t done; /* the reads done */
	struct waiting *waiting[MAX_CONNECTIONS];
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	np_warn("metrics: %s", buf);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code,
			     char *body, size_t len, bool owned,
			     const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (owned)
		resp = MHD_create_response_from_buffer_with_free_callback(
			len, body, free);
	else
		resp = MHD_create_response_from_buffer(len, body,
						       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	static char not_found[] = "not found: try /metrics\n";
	static char not_allowed[] = "method not allowed\n";
	static char failed[] = "cannot render the metrics\n";
	struct np_metrics_http *h = cls;
	struct waiting *w = *req_cls;
	size_t len = 0, i;
	uint64_t read;
	char *page;

	(void)version, (void)upload;
	if (*upload_size) /* a body we do not want */
		return MHD_NO;
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, not_found,
			     strlen(not_found), false, "text/plain");
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
			     strlen(not_allowed), false, "text/plain");
	if (!w && h->begin && (read = h->begin(h->arg)) > h->done) {
		for (i = 0; i < MAX_CONNECTIONS && h->waiting[i]; i++)
			;
		w = i < MAX_CONNECTIONS ? calloc(1, sizeof(*w)) : NULL;
		if (w) {
			w->conn = conn;
			w->read = read;
			h->waiting[i] = w;
			*req_cls = w;
			MHD_suspend_connection(conn);
			return MHD_YES;
		}
		/* No room to wait: this page has the last read's totals. */
	}
	page = h->page(h->arg, &len);
	if (!page)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, failed,
			     strlen(failed), false, "text/plain");
	return reply(conn, MHD_HTTP_OK, page, len, true,
		     NP_METRICS_CONTENT_TYPE);
}

/* A request is done (answered, or its connection gone): it waits no more. */
static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode why)
{
	struct np_metrics_http *h = cls;
	struct waiting *w = *req_cls;
	size_t i;

	(void)conn, (void)why;
	if (!w)
		return;
	for (i = 0; i < MAX_CONNECTIONS; i++)
		if (h->waiting[i] == w)
			h->waiting[i] = NULL;
	free(w);
	*req_cls = NULL;
}

void np_metrics_http_ready(struct np_metrics_http *h, uint64_t done)
{
	size_t i;

	h->done = done;
	for (i = 0; i < MAX_CONNECTIONS; i++) {
		struct waiting *w = h->waiting[i];

		if (w && w->conn && w->read <= done) {
			MHD_resume_connection(w->conn);
			w->conn = NULL;
		}
	}
}

int np_metrics_http_start(struct np_metrics_http **out,
			  const struct np_sockaddr *addr,
			  np_metrics_page_fn page, np_metrics_begin_fn begin,
			  void *arg)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			     MHD_ALLOW_SUSPEND_RESUME;
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss = { 0 };
	const union MHD_DaemonInfo *info;
	struct np_metrics_http *h;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->page = page;
	h->begin = begin;
	h->arg = arg;
	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = addr->addr.v6;
		s6->sin6_port = htons(addr->port);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = addr->addr.v4;
		s4->sin_port = htons(addr->port);
	}
	inet_ntop(addr->family, &addr->addr, host, sizeof(host));
	h->mhd = MHD_start_daemon(
		flags, addr->port, NULL, NULL, on_request, h,
		/* First, or libmicrohttpd warns on stderr that it is not. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
	if (!h->mhd) {
		int err = errno ? -errno : -EINVAL;

		np_err("cannot serve metrics on %s%s%s:%u: %s",
		       addr->family == AF_INET6 ? "[" : "", host,
		       addr->family == AF_INET6 ? "]" : "", addr->port,
		       strerror(-err));
		free(h);
		return err;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	h->fd = info ? info->epoll_fd : -1;
	if (h->fd < 0) {
		np_err("metrics: libmicrohttpd has no epoll descriptor");
		MHD_stop_daemon(h->mhd);
		free(h);
		return -ENOTSUP;
	}
	np_info("metrics on http://%s%s%s:%u/metrics",
		addr->family == AF_INET6 ? "[" : "", host,
		addr->family == AF_INET6 ? "]" : "", addr->port);
	*out = h;
	return 0;
}

int np_metrics_http_fd(const struct np_metrics_http *h)
{
	return h->fd;
}

int np_metrics_http_timeout(const struct np_metrics_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(h->mhd, &ms) != MHD_YES)
		return -1;
	return ms > 1000 ? 1000 : (int)ms;
}

void np_metrics_http_run(struct np_metrics_http *h)
{
	MHD_run(h->mhd);
}

void np_metrics_http_stop(struct np_metrics_http *h)
{
	if (!h)
		return;
	/* A suspended request must be resumed before the daemon stops. */
	np_metrics_http_ready(h, UINT64_MAX);
	MHD_run(h->mhd);
	MHD_stop_daemon(h->mhd);
	free(h);
}
