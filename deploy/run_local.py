#!/usr/bin/env python3
"""`make run` / `make stop`: a local Kafka broker, the processor in the background, and sample requests.

    run_local.py up    start (or reuse) the broker and the processor, send a text and a photo request,
                       print both answers, and say how to stop
    run_local.py down  stop the processor (SIGTERM: it drains and commits) and the broker
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".cache" / "run"
BROKER = [sys.executable, str(ROOT / "deploy" / "local-kafka" / "broker.py")]
KAFKA_PORT = os.environ.get("LOCAL_KAFKA_PORT", "19092")
HTTP_PORT = os.environ.get("PORT", "8080")
PID_FILE = RUN_DIR / "processor.pid"
LOG_FILE = RUN_DIR / "processor.log"
SAMPLE_PHOTO = ROOT / "tests" / "samples" / "nutrition_cranberry_juice.jpg"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def start_broker() -> str:
    say("starting a local Apache Kafka broker (KRaft; first run downloads the jars from Maven Central)")
    out = subprocess.run([*BROKER, "start", "--port", KAFKA_PORT, "--run-dir", str(RUN_DIR / "kafka"),
                          "--keep-data", "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["bootstrap"]


def processor_env(bootstrap: str) -> dict[str, str]:
    env = {**os.environ, "BOOTSTRAP_SERVER": bootstrap, "PORT": HTTP_PORT}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


def processor_running() -> bool:
    try:
        os.kill(int(PID_FILE.read_text()), 0)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False


def start_processor(bootstrap: str) -> None:
    env = processor_env(bootstrap)
    subprocess.run([sys.executable, "-m", "models_processor", "topics", "--partitions", "8"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    if processor_running():
        say(f"processor already running (pid {PID_FILE.read_text().strip()})")
        return
    say(f"starting the processor (logs: {LOG_FILE.relative_to(ROOT)})")
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "models_processor", "run"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    PID_FILE.write_text(str(proc.pid))
    until = time.monotonic() + 120
    while time.monotonic() < until:
        if proc.poll() is not None:
            sys.exit(f"the processor exited with {proc.returncode}; see {LOG_FILE}")
        reasons = ready_reasons()
        if reasons is not None and not any("joined" in r for r in reasons):
            return
        time.sleep(0.5)
    sys.exit(f"the processor did not join its consumer group within 120 s; see {LOG_FILE}")


def ready_reasons() -> list[str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/ready", timeout=2) as response:
            return []
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"{}").get("reasons", [])
    except OSError:
        return None


def send(bootstrap: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "models_processor", "send", *args, "--wait", "180"], cwd=ROOT,
                   env={**processor_env(bootstrap), "LOG_LEVEL": "WARNING"}, check=False)


def up() -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    bootstrap = start_broker()
    say(f"broker ready at {bootstrap}")
    start_processor(bootstrap)
    reasons = ready_reasons() or []
    if reasons:
        say("not ready for model calls: " + "; ".join(reasons))
        say("(set OLLAMA_HOST=http://host:11434 before `make run` to use an Ollama server)")
    say("sending a sample text request")
    send(bootstrap, "--text", "Suggest a quick dinner with red lentils")
    say(f"sending a sample photo request ({SAMPLE_PHOTO.name}: OCR and parsing, no model needed)")
    send(bootstrap, "--photo", str(SAMPLE_PHOTO))
    say(f"the processor keeps running: http://localhost:{HTTP_PORT}/health, /ready, /metrics")
    say(f"send more: BOOTSTRAP_SERVER={bootstrap} .venv/bin/python -m models_processor send --text 'hello'")
    say("stop everything with: make stop")


def down() -> None:
    if processor_running():
        pid = int(PID_FILE.read_text())
        say(f"stopping the processor (pid {pid}; SIGTERM lets it finish in-flight work)")
        os.kill(pid, signal.SIGTERM)
        until = time.monotonic() + 60
        while processor_running() and time.monotonic() < until:
            time.sleep(0.2)
        if processor_running():
            os.kill(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    say("stopping the broker")
    subprocess.run([*BROKER, "stop", "--run-dir", str(RUN_DIR / "kafka")], check=False)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    {"up": up, "down": down}.get(command, lambda: sys.exit(__doc__))()
