// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target for natproxyd's protocol logic (ctl/proxy.c with the SIP and
 * SDP code under it): one input is a sequence of datagrams separated by NUL
 * bytes, each led by a control byte choosing the side it arrives on, the
 * NAT mapping it comes from and how far the clock moves first. After the
 * sequence the proxy is torn down, and every flow it installed and every
 * socket it opened must be gone: hostile signaling may fail calls, never
 * leak their resources.
 *
 * Built with libFuzzer (`make fuzz`), or with a main() that replays files
 * (`build/tests/fuzz/proxy_fuzz [FILE...]`; with no argument, every file of
 * tests/fuzz/corpus/proxy/, as `make test` runs it). A crash, or a leak found by
 * the checks of drive.h (abort), fails the replay; so does a datagram, in
 * or out, that ctl/sip/sipwrite.c writes otherwise than libosip2.
 */
#define FUZZ_MAX_FLOWS 256
#define FUZZ_PORT 5060
#define FUZZ_SEEDS "tests/fuzz/corpus/proxy"

static const char fuzz_config[] =
	"realms:\n"
	"  - name: access\n"
	"    interface: lo\n"
	"    address: 203.0.113.1\n"
	"    sip_port: 5060\n"
	"    media_ports: 30000-30009\n"
	"    max_calls: 3\n"
	"    max_stream_kbps: 80\n"
	"    latch: restricted\n"
	/* The four NATs share a /24: a burst takes the block path. */
	"    max_requests_per_prefix: 12\n"
	"  - name: core\n"
	"    interface: lo\n"
	"    address: 198.51.100.1\n"
	"    sip_ports: 20000-20003\n"
	"    media_ports: 40000-40009\n"
	"    vlan: 100\n"
	"pairs:\n"
	"  - first: access\n"
	"    second: core\n"
	"    softswitch: 198.51.100.2:5060\n"
	"keepalive:\n"
	"  method: options\n"
	"  interval: 5\n";

/* Every datagram in and out: natproxyd's writer and libosip2's agree. */
#include "sipwrite_same.h"
#define FUZZ_EACH_DATAGRAM(buf, len)                  \
	do {                                           \
		if (sipwrite_same_text(buf, len) < 0)  \
			abort();                       \
	} while (0)

#include "drive.h"
