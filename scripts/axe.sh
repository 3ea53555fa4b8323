#!/usr/bin/env bash
# axe.sh — prints the path of axe.min.js (axe-core, the accessibility rules
# that the browser tests inject into each page), fetching the pinned npm
# package into ./var/tools with `npm pack` if it is not there yet. It is a
# test tool only: never served to users, never part of assets/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.14.1
dir=var/tools/axe-core-$version
if [ ! -s "$dir/axe.min.js" ]; then
	command -v npm >/dev/null 2>&1 || { echo "axe.sh: npm is needed to fetch axe-core@$version (apt-get install npm)" >&2; exit 1; }
	echo "axe.sh: fetching axe-core@$version with npm pack (browser tests need it)" >&2
	mkdir -p var/tools
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
	tar -xzf "$tmp/axe-core-$version.tgz" -C "$tmp" package/axe.min.js package/LICENSE
	mkdir -p "$dir"
	mv "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dir/"
fi
echo "$PWD/$dir/axe.min.js"
