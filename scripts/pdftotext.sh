#!/usr/bin/env bash
# pdftotext.sh — prints the path of poppler's pdftotext, installing Debian's
# poppler-utils package with apt-get if there is none. server/extract runs
# it to find the text of PDFs for search (TMA_PDFTOTEXT).
set -euo pipefail
if p=$(command -v pdftotext 2>/dev/null); then echo "$p"; exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "pdftotext.sh: no pdftotext; run as root, or apt-get install poppler-utils first" >&2; exit 1; }
	sudo=sudo
fi
echo "pdftotext.sh: installing poppler-utils with apt-get (PDF text for search needs it)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends poppler-utils >&2
command -v pdftotext
