#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What natproxy installs and ships: `make install` into scratch roots
# (PREFIX=/usr/local and /usr, DESTDIR respected, an existing configuration
# kept), the systemd unit through `systemd-analyze verify`, the man pages
# through man's warnings, and `make deb`: the package builds, lintian finds
# no error, and `dpkg -x` into a scratch root gives the expected files.
# Needs no root; without its tools (make deps installs them) it skips.
set -u
cd "$(dirname "$0")/.."
. tests/lib/tap.sh

require_tools "install and package" systemd-analyze dpkg-buildpackage dh lintian man git

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP PIPE

# files ROOT: every file and symlink under ROOT, relative, sorted.
files() { (cd "$1" && find . -type f -o -type l | sed 's|^\./||' | sort); }
# verify_unit ROOT UNIT: systemd-analyze verify on a copy of UNIT whose
# commands point into ROOT, man pages looked up in ROOT.
verify_unit() {
	local root=$1 unit=$2 dir
	dir=$(mktemp -d -p "$TMP")
	sed -e "s|=\(@\?\)/usr/|=\1$root/usr/|g" -e "s|-c /|-c $root/|" "$unit" >"$dir/natproxyd.service"
	MANPATH=$root/usr/share/man:$root/usr/local/share/man \
		systemd-analyze verify "$dir/natproxyd.service" >"$dir/verify.out" 2>&1
	local rc=$?
	[ $rc -eq 0 ] || diag "systemd-analyze verify: $(cat "$dir/verify.out")"
	return $rc
}

# --- make install, PREFIX=/usr/local ---------------------------------------------
L=$TMP/local
check "make install DESTDIR=... PREFIX=/usr/local succeeds" \
	bash -c "make -s install DESTDIR='$L' PREFIX=/usr/local >'$TMP/install.out' 2>&1"
check_eq "it installs the tools, the unit, the man pages and the configuration" \
	"usr/local/etc/natproxy/natproxy.yaml
usr/local/lib/systemd/system/natproxyd.service
usr/local/sbin/natproxyctl
usr/local/sbin/natproxyd
usr/local/share/man/man5/natproxy.yaml.5
usr/local/share/man/man8/natproxyctl.8
usr/local/share/man/man8/natproxyd.8" "$(files "$L")"
check "the tools are executable and run" \
	bash -c "'$L/usr/local/sbin/natproxyd' --help >/dev/null && '$L/usr/local/sbin/natproxyctl' --help >/dev/null 2>&1"
check "the unit runs the installed natproxyd on the installed configuration" \
	grep -qx 'ExecStart=/usr/local/sbin/natproxyd -c /usr/local/etc/natproxy/natproxy.yaml --state /run/natproxy/state' \
	"$L/usr/local/lib/systemd/system/natproxyd.service"
check "no placeholder is left in the unit" \
	test -z "$(grep '@[A-Z]*@' "$L/usr/local/lib/systemd/system/natproxyd.service")"
check "the configuration is configs/natproxy.yaml" cmp -s configs/natproxy.yaml "$L/usr/local/etc/natproxy/natproxy.yaml"
# --check also checks this host (interfaces, bpffs), which the example's
# are not: a configuration error is the one shaped FILE:LINE:COLUMN.
parses() { # NATPROXYD CONFIG
	local out rc
	out=$("$1" -c "$2" --check 2>&1)
	rc=$?
	[ "$rc" -le 1 ] && ! echo "$out" | grep -q "^$2:[0-9]*:[0-9]*: "
}
check "and it parses (natproxyd --check names only this host's lacks)" \
	parses "$L/usr/local/sbin/natproxyd" "$L/usr/local/etc/natproxy/natproxy.yaml"
echo "# edited by the operator" >>"$L/usr/local/etc/natproxy/natproxy.yaml"
make -s install DESTDIR="$L" PREFIX=/usr/local >/dev/null 2>&1
check "a second make install keeps the operator's configuration" \
	grep -q '^# edited by the operator' "$L/usr/local/etc/natproxy/natproxy.yaml"
check "systemd-analyze verify accepts the installed unit" \
	verify_unit "$L" "$L/usr/local/lib/systemd/system/natproxyd.service"
sed 's/^ExecStart=/ExecStrat=/' "$L/usr/local/lib/systemd/system/natproxyd.service" >"$TMP/broken.service"
check "and refuses a broken copy of it (the check is real)" \
	bash -c "! MANPATH='$L/usr/local/share/man' systemd-analyze verify '$TMP/broken.service' >/dev/null 2>&1"
for key in Type=simple Restart=on-failure RuntimeDirectory=natproxy RuntimeDirectoryPreserve=yes \
	StateDirectory=natproxy 'ExecReload=/bin/kill -HUP $MAINPID' WantedBy=multi-user.target; do
	check "the unit has $key" grep -qxF "$key" "$L/usr/local/lib/systemd/system/natproxyd.service"
done
check "the unit mounts the bpffs when it is missing" \
	grep -q '^ExecStartPre=.*mount -t bpf bpf /sys/fs/bpf' "$L/usr/local/lib/systemd/system/natproxyd.service"

# --- PREFIX=/usr: the configuration in /etc ----------------------------------------
U=$TMP/usr
make -s install DESTDIR="$U" PREFIX=/usr >/dev/null 2>&1
check "with PREFIX=/usr the configuration goes to /etc/natproxy" test -f "$U/etc/natproxy/natproxy.yaml"
check "and the unit reads it there" \
	grep -q '^ExecStart=/usr/sbin/natproxyd -c /etc/natproxy/natproxy.yaml' "$U/usr/lib/systemd/system/natproxyd.service"

# --- man pages ---------------------------------------------------------------------
for page in docs/man/natproxyd.8 docs/man/natproxyctl.8 docs/man/natproxy.yaml.5; do
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	check "man $page: no warnings from groff" test -z "$out"
	[ -z "$out" ] || diag "$out"
done
# man_lists PAGE OPTION...: every option is in the page (roff writes - as \-).
man_lists() {
	local page=$1 o missing=
	shift
	for o in "$@"; do
		grep -qF -- "${o//-/\\-}" "$page" || missing="$missing $o"
	done
	[ -z "$missing" ] || diag "$page lacks:$missing"
	[ -z "$missing" ]
}
check "natproxyd(8) lists every option of natproxyd --help" \
	man_lists docs/man/natproxyd.8 $(build/natproxyd --help | grep -o -- '--[a-z-]*' | sort -u)
check "natproxyctl(8) lists every command of natproxyctl --help" \
	man_lists docs/man/natproxyctl.8 attach detach status flows calls "flow add" "flow del"

# --- the Debian package --------------------------------------------------------------
if make -s deb >"$TMP/deb.out" 2>&1; then deb_ok=true; else deb_ok=false; tail -20 "$TMP/deb.out" | sed 's/^/# /'; fi
check "make deb builds the package and lintian reports no error" $deb_ok
deb=$(ls build/deb/natproxy_*_*.deb 2>/dev/null | grep -v dbgsym | head -1)
lintian "$deb" 2>/dev/null | sed 's/^/# lintian: /'
R=$TMP/root
mkdir -p "$R"
check "dpkg -x unpacks it into a scratch root" dpkg -x "$deb" "$R"
check_eq "the package's files" \
	"etc/natproxy/natproxy.yaml
lib/systemd/system/natproxyd.service
usr/sbin/natproxyctl
usr/sbin/natproxyd
usr/share/doc/natproxy/changelog.gz
usr/share/doc/natproxy/copyright
usr/share/man/man5/natproxy.yaml.5.gz
usr/share/man/man8/natproxyctl.8.gz
usr/share/man/man8/natproxyd.8.gz" "$(files "$R")"
check_eq "the configuration is a conffile" /etc/natproxy/natproxy.yaml \
	"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
check "it depends on the libraries it links (libmicrohttpd, libbpf, libosip2, libyaml)" \
	bash -c "dpkg-deb -f '$deb' Depends | grep -q libmicrohttpd && dpkg-deb -f '$deb' Depends | grep -q libbpf &&
		dpkg-deb -f '$deb' Depends | grep -q libosip2 && dpkg-deb -f '$deb' Depends | grep -q libyaml"
check "the packaged tools run" \
	bash -c "'$R/usr/sbin/natproxyd' --help >/dev/null && '$R/usr/sbin/natproxyctl' --help >/dev/null 2>&1"
check "the packaged configuration parses" \
	parses "$R/usr/sbin/natproxyd" "$R/etc/natproxy/natproxy.yaml"
check "systemd-analyze verify accepts the packaged unit" verify_unit "$R" "$R/lib/systemd/system/natproxyd.service"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst >"$TMP/postinst"
check "the service is not started on install, and enabled only if it was (its config needs editing)" \
	bash -c "! grep -q 'deb-systemd-invoke' '$TMP/postinst' && grep -B2 'deb-systemd-helper enable' '$TMP/postinst' | grep -q was-enabled"
tap_done
