// SPDX-License-Identifier: GPL-2.0-only
/* A cluster node's role from what it sees (role.h). */
#include "cluster/role.h"

const char *const np_role_names[NP_ROLE_MAX] = {
	[NP_ROLE_STANDBY] = "standby",
	[NP_ROLE_ACTIVE] = "active",
	[NP_ROLE_FENCED] = "fenced",
	[NP_ROLE_ISOLATED] = "isolated",
};

struct np_role_step np_role_next(enum np_role cur,
				 const struct np_role_view *v)
{
	struct np_role_step s = { cur, NP_LEASE_WATCH, false };

	switch (cur) {
	case NP_ROLE_STANDBY:
		if (v->have_addrs && v->lease == NP_LEASE_OURS) {
			if (v->peer_active) {
				s.want = NP_LEASE_RELEASE;
			} else if (v->permitted) {
				s.next = NP_ROLE_ACTIVE;
				s.want = NP_LEASE_HOLD;
			} else {
				s.want = NP_LEASE_HOLD;
			}
		} else if (v->have_addrs && v->lease == NP_LEASE_FREE &&
			   !v->peer_active) {
			s.want = NP_LEASE_TAKE;
		} else {
			s.follow = v->lease == NP_LEASE_OTHER;
		}
		break;
	case NP_ROLE_ACTIVE:
		if (v->lease == NP_LEASE_OTHER ||
		    (v->lease == NP_LEASE_UNKNOWN && v->peer_active)) {
			s.next = NP_ROLE_FENCED;
		} else if (!v->have_addrs) {
			s.next = NP_ROLE_STANDBY;
			s.want = NP_LEASE_RELEASE;
		} else {
			if (!v->permitted)
				s.next = NP_ROLE_ISOLATED;
			s.want = NP_LEASE_HOLD;
		}
		break;
	case NP_ROLE_ISOLATED:
		/* Stays so, unhealthy, until Redis answers: as a standby it
		 * would look healthy, and keepalived, which hears no peer,
		 * would give it the addresses again. */
		if (v->lease == NP_LEASE_UNKNOWN) {
			s.want = NP_LEASE_HOLD;
		} else if (!v->have_addrs) {
			s.next = NP_ROLE_STANDBY;
			s.want = v->lease == NP_LEASE_OURS ? NP_LEASE_RELEASE :
							     NP_LEASE_WATCH;
			s.follow = v->lease == NP_LEASE_OTHER;
		} else if (v->lease == NP_LEASE_OTHER || v->peer_active) {
			s.next = NP_ROLE_FENCED;
		} else {
			if (v->lease == NP_LEASE_OURS && v->permitted)
				s.next = NP_ROLE_ACTIVE;
			s.want = NP_LEASE_HOLD;
		}
		break;
	default:
		if (!v->have_addrs)
			s.next = NP_ROLE_STANDBY;
		break;
	}
	return s;
}
