#!/usr/bin/env bash
# chromium.sh — prints the path of a Chromium binary, installing Debian's
# chromium package with apt-get if there is none.
set -euo pipefail
for c in chromium chromium-browser google-chrome; do
	if p=$(command -v "$c" 2>/dev/null); then echo "$p"; exit 0; fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "chromium.sh: no Chromium; run as root, or apt-get install chromium first" >&2; exit 1; }
	sudo=sudo
fi
echo "chromium.sh: installing chromium with apt-get (browser tests need it)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
command -v chromium
