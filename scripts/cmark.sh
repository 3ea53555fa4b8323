#!/usr/bin/env bash
# cmark.sh — prints the path of the cmark binary (the CommonMark reference
# implementation that BenchmarkWikiRender compares against), installing
# Debian's cmark package with apt-get if there is none.
set -euo pipefail
if p=$(command -v cmark 2>/dev/null); then echo "$p"; exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "cmark.sh: no cmark; run as root, or apt-get install cmark first" >&2; exit 1; }
	sudo=sudo
fi
echo "cmark.sh: installing cmark with apt-get (make bench BENCH=wiki needs it)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cmark >&2
command -v cmark
