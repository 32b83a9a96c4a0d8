/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxy's control plane as natproxyd runs it: the call core (ctl/core/)
 * and the protocol drivers that drive it (ctl/sip/, ctl/mgcp/, ctl/h248/), put
 * together. Datagrams go to the driver whose socket they arrived on; the tick, the
 * state file, the metrics and a reload reach core and drivers from here.
 */
#ifndef NATPROXY_PROXY_H
#define NATPROXY_PROXY_H

#include "core/core.h"
#include "h248/h248.h"
#include "mgcp/mgcp.h"
#include "sip/sip.h"

struct np_proxy {
	struct np_core core;
	struct np_sip sip;
	struct np_mgcp mgcp;
	struct np_h248 h248;
};

int np_proxy_init(struct np_proxy *px, const struct np_config *cfg,
		  const struct np_core_io *io, void *io_ctx);
/* Ends every call (flows removed, ports freed) and frees everything. */
void np_proxy_fini(struct np_proxy *px);
/* Frees everything but leaves calls and their flows alone, for a restart
 * that adopts them from the state file. */
void np_proxy_forget(struct np_proxy *px);
/* A datagram arrived at realm's address:local_port from src. */
void np_proxy_input(struct np_proxy *px, size_t realm, uint16_t local_port,
		    const struct np_sockaddr *src, const char *buf, size_t len,
		    time_t now);
/* Keepalives, expiries, media timeouts; call about once a second. */
void np_proxy_tick(struct np_proxy *px, time_t now);
/* The same in slices (np_core_tick_some): begin for a second's first,
 * which also runs the protocols' own ticks; false while more is due. */
bool np_proxy_tick_some(struct np_proxy *px, time_t now, bool begin,
			size_t max);
/*
 * After a restart: takes back a terminal and its calls as the state file
 * had them (ports, sockets; the flows are still in the maps). The saved
 * terminal's and call's driver state (signaling, dialog) is taken over.
 */
int np_proxy_adopt_term(struct np_proxy *px, const struct np_term *saved,
			time_t now, struct np_term **out);
/* A standby's copy of a SIP terminal takes the active node's record of its
 * own fields (mapping, registration, contact, bindings), keeping its
 * calls. 0 or -ENOMEM (nothing changed). */
int np_proxy_refresh_term(struct np_proxy *px, struct np_term *t,
			  const struct np_term *saved, time_t now);
/* -ESTALE: the call's flows are gone, it ended (and was billed) after the
 * state file was written. */
int np_proxy_adopt_call(struct np_proxy *px, struct np_term *term,
			const struct np_call *saved);
/* A gateway from the state file: its driver (by name) makes its data
 * again from text; -ENOPROTOOPT: no such driver; -EINVAL: data it did not
 * write. */
int np_proxy_adopt_gw(struct np_proxy *px, const char *driver,
		      const struct np_term *saved, const char *data, time_t now,
		      struct np_term **out);
/* A standby's copy of a gateway takes the active node's record of its own
 * fields (mapping, lifetime, the driver's data), keeping its calls. 0;
 * -EINVAL: not a gateway of that driver, or data it did not write;
 * -ENOMEM (nothing changed). */
int np_proxy_refresh_gw(struct np_proxy *px, struct np_term *t,
			const char *driver, const struct np_term *saved,
			const char *data, time_t now);
/* One of its calls, -ESTALE as np_proxy_adopt_call. */
int np_proxy_adopt_gw_call(struct np_proxy *px, struct np_term *gw,
			   const struct np_call *saved, const char *data);
/* A standby's copy of the active node's call: adopted, its flows
 * installed in our maps (docs/ha.md). */
int np_proxy_mirror_call(struct np_proxy *px, struct np_term *term,
			 const struct np_call *saved);
/* The same for a gateway's call (its driver's data as for
 * np_proxy_adopt_gw_call). */
int np_proxy_mirror_gw_call(struct np_proxy *px, struct np_term *gw,
			    const struct np_call *saved, const char *data);
/*
 * A reload: next replaces the configuration. It keeps every realm and pair
 * of the running one at its index, with the same addresses and ports
 * (ctl/reload.c makes it so), and may append realms and pairs and mark
 * pairs draining. 0, or -ENOMEM with the running configuration kept.
 */
int np_proxy_reconfigure(struct np_proxy *px, const struct np_config *next);

#endif
