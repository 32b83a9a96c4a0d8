# SPDX-License-Identifier: GPL-2.0-only
# Sourced by a bench script run as `bench/NAME.sh OUTDIR`: checks its
# arguments and root, makes OUT (OUTDIR, absolute) and LOGS (OUT/NAME,
# emptied). Exits with the script's usage error otherwise.
bench_outdir() {
	local name=$1
	shift
	if [ $# -ne 1 ]; then
		echo "usage: bench/$name.sh OUTDIR" >&2
		exit 2
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench/$name.sh: must be run as root" >&2
		exit 1
	fi
	mkdir -p "$1" || exit 1
	OUT=$(cd "$1" && pwd)
	LOGS=$OUT/$name
	rm -rf "$LOGS"
	mkdir -p "$LOGS" || exit 1
}
