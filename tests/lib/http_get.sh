#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# http_get.sh HOST:PORT [PATH]: one HTTP/1.0 GET (PATH default /metrics)
# through bash's /dev/tcp; prints the status code on a line, then the body.
# Tests scrape natproxyd's metrics page hundreds of times: a Python
# interpreter with urllib takes ten times longer to start than this. The
# whole exchange is bounded (5 s); status 1 if it fails or runs out of time.
set -u
host=${1%:*} port=${1##*:} path=${2:-/metrics}
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$1" >&3
IFS=' ' read -r -t 5 _ code _ <&3 || exit 1
while IFS= read -r -t 5 line <&3; do
	[ -z "${line%$'\r'}" ] && break
done
echo "$code"
timeout 5 cat <&3
