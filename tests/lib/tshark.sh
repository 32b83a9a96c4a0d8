# SPDX-License-Identifier: GPL-2.0-only
# Captures checked by tshark's dissectors, sourced by bash scripts. tshark
# takes most of a second to start: one pass over a capture gives every
# count, where a display filter each would read it once per count.

# tshark_counts FILE PROTO [-d DECODE]... [FIELD VALUE]: one tshark pass
# (-d: tshark's decode-as rules), printed as "N M [K]": the frames that
# carry PROTO, the frames tshark finds malformed or in error (expert
# severity "error", 0x800000, and up: epan/proto.h), and with FIELD VALUE
# the frames whose FIELD is VALUE. "0 0 [0]" when tshark cannot read FILE,
# which no check of a capture's messages takes for a pass.
tshark_counts() {
	local file=$1 proto=$2 decode=() fields=(-e frame.protocols -e _ws.expert.severity)
	shift 2
	while [ "${1:-}" = -d ]; do
		decode+=(-d "$2")
		shift 2
	done
	[ $# -ge 2 ] && fields+=(-e "$1")
	tshark -r "$file" "${decode[@]}" -T fields -E separator=/t "${fields[@]}" 2>/dev/null |
		awk -F'\t' -v p="$proto" -v want="${2-}" -v with_value=$(($# >= 2)) '
			{
				n += index(":" $1 ":", ":" p ":") > 0
				bad = $1 ~ /(^|:)_ws\.malformed(:|$)/
				k = split($2, sev, ",")
				for (i = 1; i <= k; i++)
					if (sev[i] + 0 >= 8388608)
						bad = 1
				m += bad
				v += with_value && $3 == want
			}
			END {
				printf "%d %d", n, m
				if (with_value)
					printf " %d", v
				print ""
			}'
}
