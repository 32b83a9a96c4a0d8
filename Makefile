# SPDX-License-Identifier: GPL-2.0-only
# natproxy: XDP media relay (bpf/), control plane and tools (ctl/), tests and
# benchmarks. Artifacts go to build/. V=1 shows the commands.

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
BUILD ?= build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
msg := @true
else
Q := @
msg := @printf '  %-8s %s\n'
endif

# Debian packages for building, testing and the demo (make deps); the
# last line: what the tests call (and make deb builds with) that a
# minimal Debian 12 lacks.
DEB_PACKAGES := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
	libosip2-dev libyaml-dev pkg-config gcc make iproute2 ethtool \
	tcpdump python3 iputils-ping nftables kamailio sip-tester valgrind \
	libmicrohttpd-dev prometheus debhelper lintian man-db \
	baresip-core linphone-cli osmo-mgw tshark \
	erlang-base erlang-megaco erlang-dev erlang-examples \
	libhiredis-dev libssl-dev redis-server redis-sentinel keepalived \
	bc curl git systemd build-essential

# Recursive (=) variables, expanded only in recipes: `make deps test` on a
# machine without the packages asks pkg-config and the compiler after deps
# has installed them, not when make starts.
PKGS := libbpf yaml-0.1 libmicrohttpd hiredis zlib libcrypto
LIB_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
LIB_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -losipparser2 -lm -lpthread

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Iinclude -Ictl -I$(BUILD) \
	-Itests $(LIB_CFLAGS) -MMD -MP
# clang -target bpf does not search the multiarch directory that holds
# <asm/types.h> on Debian.
BPF_CFLAGS = -O2 -g -target bpf -mcpu=v3 -Wall -Wextra -Werror \
	-Iinclude -Ibpf -I/usr/include/$(shell $(CC) -dumpmachine) -MMD -MP

BPF_OBJS := $(BUILD)/relay.bpf.o $(BUILD)/siglookup.bpf.o $(BUILD)/floors.bpf.o \
	$(BUILD)/xdp_pass.bpf.o $(BUILD)/mark_reader.bpf.o
SKELS := $(BUILD)/relay.skel.h $(BUILD)/siglookup.skel.h $(BUILD)/floors.skel.h \
	$(BUILD)/mark_reader.skel.h
# The media benchmark (bench/media/): generator, sink and ceiling programs.
MEDIA_BPF_OBJS := $(BUILD)/mb_gen.bpf.o $(BUILD)/mb_sink.bpf.o \
	$(BUILD)/mb_ceiling.bpf.o
MEDIA_SKELS := $(MEDIA_BPF_OBJS:.bpf.o=.skel.h)

# Every ctl/ file but the programs' mains is library, shared by the tools,
# the tests and the benchmarks.
CTL_MAINS := ctl/natproxyctl.c ctl/natproxyd.c
# One folder per layer: ctl/core (the call core), ctl/sip (the SIP driver).
CTL_LIB := $(filter-out $(CTL_MAINS),$(wildcard ctl/*.c ctl/*/*.c))
CTL_LIB_OBJS := $(CTL_LIB:ctl/%.c=$(BUILD)/ctl/%.o)

TOOLS := $(BUILD)/natproxyctl $(BUILD)/natproxyd
TESTS := $(filter-out %.bpf,$(patsubst %.c,$(BUILD)/%,$(wildcard tests/*.c tests/unit/*.c tests/fuzz/*.c)))
BENCHES := $(patsubst %.c,$(BUILD)/%,$(wildcard bench/*.c))
BENCHES := $(filter-out %.bpf,$(BENCHES)) $(BUILD)/bench/media/mediabench \
	$(BUILD)/bench/flood/floodgen

# What `make bench` needs beyond `make deps` (never CI): the peer relay
# (rtpengine), the SIP tools bench/signaling.sh and bench/media.sh use, and
# perf (bench/signaling.sh's own-work CPU figure).
BENCH_DEB_PACKAGES := rtpengine-daemon sip-tester kamailio linux-perf

.PHONY: all clean install deps bench-deps test sanitized demo bench fuzz deb FORCE
.SECONDARY:
all: $(TOOLS) $(TESTS) $(BENCHES) $(BPF_OBJS)

$(BUILD)/%.bpf.o: bpf/%.bpf.c | $(BUILD)
	$(msg) BPF $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/floors.bpf.o: bench/floors.bpf.c | $(BUILD)
	$(msg) BPF $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/mb_%.bpf.o: bench/media/%.bpf.c bench/media/media.h | $(BUILD)
	$(msg) BPF $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -Ibench/media -c $< -o $@

$(BUILD)/bench/media/mediabench.o: $(MEDIA_SKELS)

# The tests' own programs.
$(BUILD)/%.bpf.o: tests/%.bpf.c | $(BUILD)
	$(msg) BPF $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(msg) SKEL $@
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# The version: `git describe` of this tree (not of a repository the tree
# happens to sit in, e.g. a packaging one), else the VERSION file. Written
# only when it changed, so an unchanged tree relinks nothing.
$(BUILD)/np_version.h: FORCE | $(BUILD)
	$(Q)v=; if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ]; then \
		v=$$(git describe --always --dirty); \
	fi; \
	[ -n "$$v" ] || v=$$(cat VERSION) || v=unknown; \
	printf '#define NP_VERSION "%s"\n' "$$v" > $@.tmp && \
	if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/ctl/cli.o: $(BUILD)/np_version.h

$(BUILD)/ctl/%.o: ctl/%.c $(SKELS) | $(BUILD)
	$(msg) CC $@
	$(Q)mkdir -p $(@D) && $(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(SKELS) | $(BUILD)
	$(msg) CC $@
	$(Q)mkdir -p $(@D) && $(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/bench/%.o: bench/%.c $(SKELS) | $(BUILD)
	$(msg) CC $@
	$(Q)mkdir -p $(@D) && $(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/natproxy%: $(BUILD)/ctl/natproxy%.o $(CTL_LIB_OBJS)
	$(msg) LINK $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIB_LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(CTL_LIB_OBJS)
	$(msg) LINK $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIB_LIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(CTL_LIB_OBJS)
	$(msg) LINK $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIB_LIBS) -o $@

$(BUILD):
	$(Q)mkdir -p $@

MANPAGES := docs/man/natproxyd.8 docs/man/natproxyctl.8 docs/man/natproxy.yaml.5

# The tools, the systemd unit, man pages, and the configuration (an
# existing one is never overwritten).
install: $(TOOLS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/natproxy
	install -m 0755 $(TOOLS) $(DESTDIR)$(SBINDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		dist/natproxyd.service.in >$(DESTDIR)$(UNITDIR)/natproxyd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/natproxyd.service
	install -m 0644 $(filter %.8,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(filter %.5,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man5/
	test -e $(DESTDIR)$(SYSCONFDIR)/natproxy/natproxy.yaml || \
		install -m 0644 configs/natproxy.yaml \
			$(DESTDIR)$(SYSCONFDIR)/natproxy/natproxy.yaml

# A Debian package (debhelper), built from a copy of the tracked files in
# $(BUILD)/deb, where the .deb lands; lintian then checks it.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version)
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/natproxy
	git ls-files -z --cached --others --exclude-standard | \
		xargs -0 cp --parents -t $(BUILD)/deb/natproxy
	cd $(BUILD)/deb/natproxy && \
		DEB_BUILD_OPTIONS="parallel=$$(nproc) $$DEB_BUILD_OPTIONS" \
		dpkg-buildpackage -b -us -uc
	lintian --fail-on error $(BUILD)/deb/natproxy_$(DEB_VERSION)_*.deb

# apt_install PACKAGES: installs what is missing; when every package is
# installed already (dpkg's status, no network) it does nothing, at once.
# dpkg-query, not dpkg -s: a package removed but not purged is known to
# dpkg -s, and not installed.
define apt_install
	@if out=$$(dpkg-query -W -f='$${db:Status-Status} $${binary:Package}\n' \
		$(1) 2>/dev/null) && ! printf '%s\n' "$$out" | grep -qv '^installed '; \
	then :; else \
		echo "installing missing packages: $(1)" && \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(1); \
	fi
endef

deps:
	$(call apt_install,$(DEB_PACKAGES))

# `make deps demo` and `make deps test`: nothing is built before the
# packages are in (every artifact waits for $(BUILD)), even with -j.
ifneq ($(filter deps,$(MAKECMDGOALS)),)
$(BUILD): deps
endif

# What the benchmarks need beyond deps (bench/signaling.sh: the reference
# NAT proxy's rtpengine, Kamailio, sipp).
test: all sanitized
	tests/run.sh

# The unit tests, the fuzz corpora's replays and natproxyd built again with
# ASan (leaks included) and UBSan, every finding fatal, into
# $(BUILD)/sanitized: tests/sanitized.sh runs the tests, and
# tests/e2e/sanitized.sh the SIP and HA suites with that natproxyd.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_TARGETS := $(patsubst %.c,$(BUILD)/sanitized/%,$(wildcard tests/addr_test.c \
	tests/unit/*_test.c tests/fuzz/*_fuzz.c)) $(BUILD)/sanitized/natproxyd
sanitized: all
	$(Q)CFLAGS='-O1 -g -fno-omit-frame-pointer $(SAN_FLAGS)' \
		LDFLAGS='$(SAN_FLAGS)' \
		$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitized $(SAN_TARGETS)

demo: all
	tests/demo.sh

bench-deps:
	$(call apt_install,$(BENCH_DEB_PACKAGES))

bench: bench-deps all
	bench/run.sh

# libFuzzer (clang, ASan, UBSan) on what natproxyd reads from outside:
# SIP and SDP through the proxy logic, and its configuration. Never in CI;
# each target runs FUZZ_SECONDS, new inputs kept in build/fuzz/.
FUZZ_SECONDS ?= 300
FUZZ_CFLAGS = -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DNP_LIBFUZZER \
	-std=gnu11 -Iinclude -Ictl -I$(BUILD) -Itests $(LIB_CFLAGS)
FUZZERS := proxy_fuzz mgcp_fuzz h248_fuzz config_fuzz
FUZZ_SEEDS_proxy_fuzz := tests/fuzz/corpus/proxy
FUZZ_SEEDS_mgcp_fuzz := tests/fuzz/corpus/mgcp
FUZZ_SEEDS_h248_fuzz := tests/fuzz/corpus/h248
FUZZ_SEEDS_config_fuzz := configs tests/unit/configs

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/drive.h $(CTL_LIB) $(SKELS) $(BUILD)/np_version.h
	$(msg) FUZZ $@
	$(Q)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) $< $(CTL_LIB) \
		$(LIB_LIBS) -o $@

fuzz: $(FUZZERS:%=$(BUILD)/fuzz/%)
	$(foreach t,$(FUZZERS),mkdir -p $(BUILD)/fuzz/$(t).corpus && \
		$(BUILD)/fuzz/$(t) -max_total_time=$(FUZZ_SECONDS) \
		-max_len=8192 -artifact_prefix=$(BUILD)/fuzz/$(t)- \
		$(BUILD)/fuzz/$(t).corpus $(FUZZ_SEEDS_$(t)) &&) true

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
