// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target for natproxyd's MGCP driver (ctl/mgcp/ through ctl/proxy.c,
 * with the SDP code under it), as proxy_fuzz.c is for SIP: one input is a
 * sequence of datagrams separated by NUL bytes, each led by a control byte
 * choosing the side it arrives on (a gateway behind one of four NATs, or
 * the call agent on the last gateway's core address) and how far the clock
 * moves first. After the
 * sequence the proxy is torn down, and every flow it installed and every
 * socket it opened must be gone: hostile signaling may fail calls, never
 * leak their resources.
 *
 * Built with libFuzzer (`make fuzz`), or with a main() that replays files
 * (`build/tests/fuzz/mgcp_fuzz [FILE...]`; with no argument, every file of
 * tests/fuzz/corpus/mgcp/, as tests/run.sh runs it). A crash, or a leak found by
 * the checks of drive.h (abort), fails the replay.
 */
#define FUZZ_MAX_FLOWS 256
#define FUZZ_PORT 2727
#define FUZZ_SEEDS "tests/fuzz/corpus/mgcp"

static const char fuzz_config[] =
	"realms:\n"
	"  - name: access\n"
	"    interface: lo\n"
	"    address: 203.0.113.1\n"
	"    mgcp_port: 2727\n"
	"    media_ports: 30000-30009\n"
	"    max_calls: 3\n"
	"    latch: restricted\n"
	"  - name: core\n"
	"    interface: lo\n"
	"    address: 198.51.100.1\n"
	"    sip_ports: 20000-20003\n"
	"    media_ports: 40000-40009\n"
	"pairs:\n"
	"  - first: access\n"
	"    second: core\n"
	"    call_agent: 198.51.100.2:2727\n"
	"keepalive:\n"
	"  interval: 5\n";

#include "drive.h"
