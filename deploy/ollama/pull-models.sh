#!/bin/sh
# Pull the Ollama models the processor needs into the model server's store, then exit 0.
#
# Runs inside the ollama/ollama image (which has the `ollama` CLI but no curl). The CLI talks to the
# server named by OLLAMA_HOST, so the models land in the *server's* volume, not in this container.
#
#   OLLAMA_HOST          server to pull into (default http://ollama:11434)
#   PULL_MODELS          space- or comma-separated model names (default llava:7b)
#   PULL_WAIT_SECONDS    how long to wait for the server to answer (default 300)
#   PULL_RETRIES         attempts per model (default 3; a first pull of llava:7b is ~4.7 GB)
#
# Idempotent: a model already present is not downloaded again (`ollama show` succeeds).
set -eu

: "${OLLAMA_HOST:=http://ollama:11434}"
: "${PULL_MODELS:=llava:7b}"
: "${PULL_WAIT_SECONDS:=300}"
: "${PULL_RETRIES:=3}"
export OLLAMA_HOST

log() { echo "pull-models: $*" >&2; }

waited=0
until ollama list >/dev/null 2>&1; do
  if [ "$waited" -ge "$PULL_WAIT_SECONDS" ]; then
    log "model server at $OLLAMA_HOST did not answer within ${PULL_WAIT_SECONDS}s"
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done
log "model server at $OLLAMA_HOST is up"

for model in $(echo "$PULL_MODELS" | tr ',' ' '); do
  if ollama show "$model" >/dev/null 2>&1; then
    log "$model already present"
    continue
  fi
  attempt=1
  until ollama pull "$model"; do
    if [ "$attempt" -ge "$PULL_RETRIES" ]; then
      log "pulling $model failed $attempt times"
      exit 1
    fi
    attempt=$((attempt + 1))
    log "retrying $model (attempt $attempt)"
    sleep 5
  done
  log "$model pulled"
done
log "all models present: $PULL_MODELS"
