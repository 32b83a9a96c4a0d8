// SPDX-License-Identifier: GPL-2.0-only
/* The call core and its SIP, MGCP and H.248 drivers, put together (proxy.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int np_proxy_init(struct np_proxy *px, const struct np_config *cfg,
		  const struct np_core_io *io, void *io_ctx)
{
	int err = np_core_init(&px->core, cfg, io, io_ctx);

	if (err)
		return err;
	err = np_sip_init(&px->sip, &px->core);
	if (err) {
		np_core_fini(&px->core);
		return err;
	}
	err = np_mgcp_init(&px->mgcp, &px->core);
	if (!err)
		err = np_h248_init(&px->h248, &px->core);
	if (err) {
		np_core_fini(&px->core);
		np_sip_fini(&px->sip);
		np_mgcp_fini(&px->mgcp);
		np_h248_fini(&px->h248);
	}
	return err;
}

void np_proxy_fini(struct np_proxy *px)
{
	np_core_fini(&px->core);
	np_sip_fini(&px->sip);
	np_mgcp_fini(&px->mgcp);
	np_h248_fini(&px->h248);
}

void np_proxy_forget(struct np_proxy *px)
{
	np_core_forget(&px->core);
	np_sip_fini(&px->sip);
	np_mgcp_fini(&px->mgcp);
	np_h248_fini(&px->h248);
}

void np_proxy_input(struct np_proxy *px, size_t realm, uint16_t local_port,
		    const struct np_sockaddr *src, const char *buf, size_t len,
		    time_t now)
{
	if (np_mgcp_owns(&px->mgcp, realm, local_port, buf, len))
		np_mgcp_input(&px->mgcp, realm, local_port, src, buf, len, now);
	else if (np_h248_owns(&px->h248, realm, local_port, buf, len))
		np_h248_input(&px->h248, realm, local_port, src, buf, len, now);
	else
		np_sip_input(&px->sip, realm, local_port, src, buf, len, now);
}

void np_proxy_tick(struct np_proxy *px, time_t now)
{
	np_proxy_tick_some(px, now, true, SIZE_MAX);
}

bool np_proxy_tick_some(struct np_proxy *px, time_t now, bool begin,
			size_t max)
{
	if (begin) {
		np_sip_tick(&px->sip, now);
		np_mgcp_tick(&px->mgcp, now);
		np_h248_tick(&px->h248, now);
	}
	return np_core_tick_some(&px->core, now, max);
}

int np_proxy_adopt_term(struct np_proxy *px, const struct np_term *saved,
			time_t now, struct np_term **out)
{
	/* Transactions are not kept across a restart. */
	struct np_sip_term *st = saved->signaling ?
					 np_sip_term_dup(saved->signaling) :
					 np_sip_term_new();
	struct np_term copy = *saved;
	int err;

	if (!st)
		return -ENOMEM;
	copy.signaling = st;
	err = np_core_adopt_term(&px->core, &copy, &px->sip.driver, now, out);
	if (err)
		np_sip_term_free(st);
	return err;
}

int np_proxy_refresh_term(struct np_proxy *px, struct np_term *t,
			  const struct np_term *saved, time_t now)
{
	int err = 0;

	if (t->driver != &px->sip.driver)
		return -EINVAL;
	if (saved->signaling && t->signaling)
		err = np_sip_term_assign(t->signaling, saved->signaling);
	if (!err)
		np_core_refresh_term(&px->core, t, saved, now);
	return err;
}

/* A saved call made one of term's, with a copy of its SIP dialog;
 * install: its flows put in the maps too (a standby's copy). */
static int take_call(struct np_proxy *px, struct np_term *term,
		     const struct np_call *saved, bool install)
{
	struct np_sip_dialog *d = saved->dialog ?
					  np_sip_dialog_copy(saved->dialog) :
					  np_sip_dialog_new();
	int err;

	if (!d)
		return -ENOMEM;
	err = install ? np_core_mirror_call(&px->core, term, saved, d) :
			np_core_adopt_call(&px->core, term, saved, d);
	if (err)
		free(d);
	return err;
}

/* The gateway driver of that name, or NULL. */
static const struct np_driver *gw_driver(const struct np_proxy *px,
					 const char *name)
{
	if (!strcmp(name, px->mgcp.driver.name))
		return &px->mgcp.driver;
	if (!strcmp(name, px->h248.driver.name))
		return &px->h248.driver;
	return NULL;
}

int np_proxy_adopt_gw(struct np_proxy *px, const char *driver,
		      const struct np_term *saved, const char *data, time_t now,
		      struct np_term **out)
{
	const struct np_driver *drv = gw_driver(px, driver);
	struct np_term copy = *saved;
	void *gw = NULL;
	int err;

	if (!drv)
		return -ENOPROTOOPT;
	err = drv->state_get(drv->ctx, false, data, &gw);
	if (err)
		return err;
	copy.signaling = gw;
	err = np_core_adopt_term(&px->core, &copy, drv, now, out);
	if (err)
		free(gw);
	return err;
}

int np_proxy_refresh_gw(struct np_proxy *px, struct np_term *t,
			const char *driver, const struct np_term *saved,
			const char *data, time_t now)
{
	const struct np_driver *drv = gw_driver(px, driver);
	char held[4096]; /* -ENOSPC would only make it again */
	void *gw = NULL;
	int err;

	if (!drv || t->driver != drv)
		return -EINVAL;
	/* The driver's state made again only when its text changed: what it
	 * keeps beside it (open transactions) stays. */
	if (drv->state_put(drv->ctx, t, NULL, held, sizeof(held)) ||
	    strcmp(held, data)) {
		err = drv->state_get(drv->ctx, false, data, &gw);
		if (err)
			return err;
		drv->term_free(drv->ctx, t);
		t->signaling = gw;
	}
	np_core_refresh_term(&px->core, t, saved, now);
	return 0;
}

/* A gateway's saved call made one of gw's, its driver's data of it made
 * again; install: its flows put in the maps too (a standby's copy). */
static int take_gw_call(struct np_proxy *px, struct np_term *gw,
			const struct np_call *saved, const char *data,
			bool install)
{
	void *dialog = NULL;
	int err = gw->driver->state_get(gw->driver->ctx, true, data, &dialog);

	if (err)
		return err;
	err = install ? np_core_mirror_call(&px->core, gw, saved, dialog) :
			np_core_adopt_call(&px->core, gw, saved, dialog);
	if (err)
		free(dialog);
	return err;
}

int np_proxy_adopt_gw_call(struct np_proxy *px, struct np_term *gw,
			   const struct np_call *saved, const char *data)
{
	return take_gw_call(px, gw, saved, data, false);
}

int np_proxy_mirror_gw_call(struct np_proxy *px, struct np_term *gw,
			    const struct np_call *saved, const char *data)
{
	return take_gw_call(px, gw, saved, data, true);
}

int np_proxy_adopt_call(struct np_proxy *px, struct np_term *term,
			const struct np_call *saved)
{
	return take_call(px, term, saved, false);
}

int np_proxy_mirror_call(struct np_proxy *px, struct np_term *term,
			 const struct np_call *saved)
{
	return take_call(px, term, saved, true);
}

int np_proxy_reconfigure(struct np_proxy *px, const struct np_config *next)
{
	int err = np_core_reconfigure(&px->core, next);

	if (!err)
		err = np_sip_reconfigure(&px->sip);
	if (!err)
		err = np_mgcp_reconfigure(&px->mgcp);
	return err ? err : np_h248_reconfigure(&px->h248);
}
