#!/bin/sh
# Pull the models in PULL_MODELS into OLLAMA_MODELS, once per models volume, then exit 0.
# Runs as the `ollama-pull` init container of the models-processor pod (the ollama/ollama image: it has
# sh, flock and timeout), before the Ollama sidecar starts. docs/DEPLOYMENT.md, "Models volume".
#
# - An exclusive lock ($OLLAMA_MODELS/.pull.lock, flock) comes first: on a shared ReadWriteMany volume
#   one pod pulls and the others wait, then find the models present and download nothing. On a per-pod
#   volume the lock is uncontended. NFSv4, EFS, Filestore and CephFS honour flock across nodes.
# - `ollama pull` needs a server: a private one on OLLAMA_HOST (loopback) runs only while pulling, with
#   OLLAMA_NOPRUNE=1 so it never deletes another pod's partial download.
# - SIGTERM (pod deleted mid-pull) stops the private server and exits at once; the partial download stays
#   on the volume and the next pull resumes it. Waits are in the background + `wait`, because a shell
#   runs its traps only between commands.
#
#   PULL_MODELS             comma- or space-separated model names (from the processor's OLLAMA_MODEL)
#   PULL_RETRIES            attempts per model (default 3)
#   PULL_TIMEOUT_SECONDS    limit per attempt (default 2400)
#   PULL_LOCK_WAIT_SECONDS  how long to wait for another pod's pull (default 7200)
set -eu

: "${OLLAMA_MODELS:?OLLAMA_MODELS must name the models volume}"
: "${PULL_MODELS:?PULL_MODELS must name at least one model}"
: "${PULL_RETRIES:=3}"
: "${PULL_TIMEOUT_SECONDS:=2400}"
: "${PULL_LOCK_WAIT_SECONDS:=7200}"
: "${OLLAMA_BIN:=/bin/ollama}"
export OLLAMA_NOPRUNE=1

log() { echo "ollama-pull: $*" >&2; }

server=""
child=""
stop() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
}
trap 'log "terminated"; stop; exit 143' TERM INT

# Runs "$@" in the background and waits for it, so a SIGTERM is handled at once.
run() {
  "$@" &
  child=$!
  status=0
  wait "$child" || status=$?
  child=""
  return "$status"
}

lock="$OLLAMA_MODELS/.pull.lock"
if ! (: >>"$lock") 2>/dev/null; then
  log "cannot write $OLLAMA_MODELS as uid $(id -u) (groups $(id -G)): the volume ignores fsGroup;" \
    "make it writable by this uid or group (docs/DEPLOYMENT.md, Models volume)"
  exit 1
fi
exec 9>>"$lock"
waited=0
until flock -n 9; do
  if [ "$waited" -ge "$PULL_LOCK_WAIT_SECONDS" ]; then
    log "another pod held $lock for ${PULL_LOCK_WAIT_SECONDS}s"
    exit 1
  fi
  if [ "$waited" -eq 0 ]; then log "waiting for another pod's pull ($lock)"; fi
  run sleep 5
  waited=$((waited + 5))
done

"$OLLAMA_BIN" serve &
server=$!
until "$OLLAMA_BIN" list >/dev/null 2>&1; do
  kill -0 "$server" 2>/dev/null || { log "the private ollama server exited"; exit 1; }
  run sleep 1
done

for model in $(echo "$PULL_MODELS" | tr ',' ' '); do
  if "$OLLAMA_BIN" show "$model" >/dev/null 2>&1; then
    log "$model already present"
    continue
  fi
  attempt=1
  until run timeout "$PULL_TIMEOUT_SECONDS" "$OLLAMA_BIN" pull "$model"; do
    if [ "$attempt" -ge "$PULL_RETRIES" ]; then
      log "pulling $model failed $attempt times"
      stop
      exit 1
    fi
    attempt=$((attempt + 1))
    log "retrying $model (attempt $attempt)"
    run sleep 5
  done
  log "$model pulled"
done
stop
log "all models present: $PULL_MODELS"
