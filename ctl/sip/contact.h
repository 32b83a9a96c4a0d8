/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Registrations per Contact binding (docs/sip.md, "Registrations"): a
 * terminal may register several Contacts (lines of an IAD with `;line=`,
 * accounts, `+sip.instance`), each a binding with the lifetime the 200
 * gives it; a request from the core for the terminal's core address goes
 * to the binding its Request-URI names. Pure: no I/O, no globals.
 */
#ifndef NATPROXY_SIP_CONTACT_H
#define NATPROXY_SIP_CONTACT_H

#include <stdbool.h>
#include <stddef.h>
#include <osipparser2/osip_parser.h>

#include "config.h"

struct np_sip_binding {
	char uri[256]; /* the Contact's URI, as libosip2 prints it */
	char user[128]; /* its user part, "" if none */
	char line[64]; /* its URI parameter line, "" if none */
	char instance[128]; /* header parameter +sip.instance as written
			     * (quotes and <> kept), "" if none */
	long expires; /* the expires parameter, -1 none */
	bool star; /* "Contact: *" (only star is set then) */
};

/*
 * Every Contact of m, over several headers and comma-separated values.
 * 0; -ENOSPC when there are more than max or a field does not fit, -EINVAL
 * for a Contact libosip2 left without URI (*n then says how many were
 * filled); an expires parameter that is not delta-seconds counts as none.
 */
int np_contacts_get(const osip_message_t *m, struct np_sip_binding *out,
		    size_t max, size_t *n);

/* The same binding: by +sip.instance when both have one, else by user,
 * line, and the URI's host and port (no port is 5060, 5061 for sips). */
bool np_binding_same(const struct np_sip_binding *a,
		     const struct np_sip_binding *b);

/*
 * The lifetime a 200 to a REGISTER gives binding b: the expires parameter
 * of its Contact in the 200, else the 200's Expires header, else 3600 (RFC
 * 3261 10.2.1.1); -1 when the 200 does not list it (the binding is gone).
 * The 200's Contacts carry natproxy's core host:port, so a Contact is b's
 * when its user, line and instance are b's. The registrar may list other
 * devices' bindings too: when several match, one at b's host:port or at
 * `at` (natproxy's core address for this terminal; may be NULL) wins, and
 * np_binding_expires_at counts only those. A star binding gives 0.
 */
long np_binding_expires(const struct np_sip_binding *b,
			const osip_message_t *resp);
long np_binding_expires_at(const struct np_sip_binding *b,
			   const osip_message_t *resp,
			   const struct np_sockaddr *at);

/*
 * The binding a Request-URI from the core names: user part and line
 * parameter both equal, else the line alone (non-empty), else the user
 * alone; else the only binding, else the first. Star bindings never match.
 * NULL when the list is empty or holds only star bindings.
 */
const struct np_sip_binding *
np_binding_for_ruri(const struct np_sip_binding *list, size_t n,
		    const osip_uri_t *ruri);

#endif
