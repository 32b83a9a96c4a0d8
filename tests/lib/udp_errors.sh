# SPDX-License-Identifier: GPL-2.0-only
# udp_csum_errors NS: UDP datagrams (IPv4 and IPv6) that namespace NS
# dropped for a bad checksum (InCsumErrors), the receiving end's own account
# of whether what natproxy sent was whole.
udp_csum_errors() {
	ip netns exec "$1" awk '$1 == "Udp:" && !h {for (i = 2; i <= NF; i++) if ($i == "InCsumErrors") c = i; h = 1; next}
		$1 == "Udp:" {n += $c} $1 == "Udp6InCsumErrors" {n += $2} END {print n + 0}' \
		/proc/net/snmp /proc/net/snmp6
}
