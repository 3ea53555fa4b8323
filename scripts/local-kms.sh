#!/usr/bin/env bash
# local-kms.sh — prints the path of local-kms, the KMS emulator that
# TestKMSProviderAgainstLocalKMS runs, building it once into
# var/tools/local-kms-<version>/ with `go install` if it is not there yet.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v0.0.0-20260228092603-2a5e92d09ab6
dir=$PWD/var/tools/local-kms-$version
if [ ! -x "$dir/local-kms" ]; then
	echo "local-kms.sh: building local-kms@$version into $dir (KMS tests need it)" >&2
	mkdir -p "$dir"
	GOBIN=$dir go install "github.com/nsmithuk/local-kms@$version" >&2
fi
echo "$dir/local-kms"
