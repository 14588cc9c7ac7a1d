#!/bin/sh
# Install a pinned kubeconform for the offline manifest checks (tests/deploy), cached under .cache/.
# Idempotent: a second run with the tool in place does nothing. Prints the binary's path on stdout.
#
# How: `go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0` through the Go module proxy
# (checksums verified by Go against sum.golang.org); about 40 s cold on 2 cores. Needs Go >= 1.22.
# kubeconform itself then runs offline: tests/deploy give it local schemas only (deploy/tools/k8s_schemas.py).
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
VERSION=v0.8.0
DEST="$ROOT/.cache/tools/kubeconform-$VERSION"
BIN="$ROOT/.cache/tools/bin"

log() { echo "install-kubeconform: $*" >&2; }

if [ ! -x "$DEST/kubeconform" ]; then
  command -v go >/dev/null 2>&1 || { log "go not found (needed to build kubeconform $VERSION)"; exit 1; }
  mkdir -p "$DEST"
  GOBIN="$DEST" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$VERSION"
fi
mkdir -p "$BIN"
ln -sf "$DEST/kubeconform" "$BIN/kubeconform"
"$BIN/kubeconform" -v >/dev/null
log "kubeconform $VERSION at $DEST"
echo "$BIN/kubeconform"
