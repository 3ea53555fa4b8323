#!/usr/bin/env bash
# test.sh GO-TEST-ARGS... — runs `go test` against a private throw-away
# PostgreSQL cluster, unless TMA_TEST_DATABASE_URL points at one already.
# Browser tests find Chromium through TMA_CHROMIUM, installed here if missing,
# and axe-core through TMA_AXE, fetched here if missing; the KMS tests find
# local-kms through TMA_LOCAL_KMS, built here if missing; the PDF text tests
# find pdftotext through TMA_PDFTOTEXT, installed here if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TMA_TEST_DATABASE_URL:-}" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tma-test-pg.XXXXXX")
	trap 'scripts/pg.sh stop "$dir"; rm -rf "$dir"' EXIT
	# fsync off: a throw-away cluster needs no durability, and it is faster.
	TMA_TEST_DATABASE_URL=$(PG_FSYNC=off scripts/pg.sh start "$dir")
	export TMA_TEST_DATABASE_URL
fi

if [ -z "${TMA_CHROMIUM:-}" ]; then
	TMA_CHROMIUM=$(scripts/chromium.sh)
	export TMA_CHROMIUM
fi
if [ -z "${TMA_AXE:-}" ]; then
	if [ "$TMA_CHROMIUM" = none ]; then TMA_AXE=none; else TMA_AXE=$(scripts/axe.sh); fi
	export TMA_AXE
fi

if [ -z "${TMA_LOCAL_KMS:-}" ]; then
	TMA_LOCAL_KMS=$(scripts/local-kms.sh)
	export TMA_LOCAL_KMS
fi

if [ -z "${TMA_PDFTOTEXT:-}" ]; then
	TMA_PDFTOTEXT=$(scripts/pdftotext.sh)
	export TMA_PDFTOTEXT
fi

mkdir -p var
go test "$@"
