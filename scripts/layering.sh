#!/usr/bin/env bash
# layering.sh — enforces the dependency rules of DESIGN.md:
#   server/tma imports only the standard library;
#   server/chart (SVG charts) is a leaf and imports only the standard library;
#   adapters (postgres, web, crypt, blob, search, authz, pdf, extract, instrument) never import each other;
#   docs-engine is a leaf and imports nothing from server/.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0
deps() { go list -f '{{join .Imports "\n"}}' "$1/..." 2>/dev/null | sort -u; }

bad=$(deps ./server/tma | grep '\.' || true)
[ -n "$bad" ] && { echo "server/tma must import only the standard library, found: $bad"; fail=1; }

bad=$(deps ./server/chart | grep '\.' || true)
[ -n "$bad" ] && { echo "server/chart must import only the standard library, found: $bad"; fail=1; }

adapters="postgres web crypt blob search authz pdf extract instrument"
for a in $adapters; do
	[ -d "server/$a" ] || continue
	for b in $adapters; do
		[ "$a" = "$b" ] && continue
		if deps "./server/$a" | grep -qx "$mod/server/$b\(/.*\)\?"; then
			echo "server/$a must not import server/$b (adapters talk through server/tma)"; fail=1
		fi
	done
done

if [ -d docs-engine ] && deps ./docs-engine | grep -q "^$mod/server"; then
	echo "docs-engine is a leaf library and must not import server/"; fail=1
fi
exit $fail
