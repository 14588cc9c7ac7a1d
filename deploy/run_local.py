#!/usr/bin/env python3
"""`make run` / `make stop`: a local Kafka broker, a local Ollama, the processor in the background, samples.

    run_local.py up    start (or reuse) the broker, the model server and the processor, send a text and a
                       photo request, print both answers, and say how to stop
    run_local.py down  stop the processor (SIGTERM: it drains and commits), the model server and the broker

Model server: OLLAMA_HOST when set; otherwise testkit/local_ollama starts Ollama 0.17.4 with the tiny
text-only model gemma3-tiny (built into the user cache on first use: about 10 minutes on 2 cores, once; see
docs/local-ollama.md). That model cannot see images, so the processor's vision check says so; photo requests
are still answered from OCR.
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

from testkit.broker import LocalBroker

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".cache" / "run"
OLLAMA = [sys.executable, "-m", "testkit.local_ollama"]
OLLAMA_RUN_DIR = RUN_DIR / "ollama"
LOCAL_MODEL = "gemma3-tiny"  # testkit/local_ollama/build.py MODEL_NAME
KAFKA_PORT = os.environ.get("LOCAL_KAFKA_PORT", "19092")
HTTP_PORT = os.environ.get("PORT", "5000")
PID_FILE = RUN_DIR / "processor.pid"
LOG_FILE = RUN_DIR / "processor.log"
SAMPLE_PHOTO = ROOT / "tests" / "samples" / "nutrition_cranberry_juice.jpg"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def local_broker() -> LocalBroker:
    # Not watched: the broker outlives this script and keeps its data until `make stop`.
    return LocalBroker(RUN_DIR / "kafka", port=int(KAFKA_PORT), watch=False)


def start_broker() -> str:
    say("starting a local Apache Kafka broker (KRaft; first run downloads the jars from Maven Central)")
    return local_broker().start(keep_data=True)


def start_ollama() -> dict[str, str]:
    """The processor's model settings: OLLAMA_HOST as given, or a local Ollama with the tiny model."""
    if os.environ.get("OLLAMA_HOST"):
        say(f"using the Ollama server at OLLAMA_HOST={os.environ['OLLAMA_HOST']}")
        return {}
    say("starting a local Ollama 0.17.4 with the tiny model gemma3-tiny (set OLLAMA_HOST to use your own; "
        "the first run builds it from source: about 10 minutes on 2 cores, once)")
    # stderr is not captured: the build's progress lines reach the terminal.
    out = subprocess.run([*OLLAMA, "start", "--run-dir", str(OLLAMA_RUN_DIR), "--json"], check=False,
                         stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit("the local Ollama did not start (reason above); set OLLAMA_HOST to use an existing server")
    state = json.loads(out.stdout)
    say(f"Ollama {state['version']} ready at {state['base_url']} (log: {state['log_file']})")
    # One text-only model for both roles: text requests get real answers, and the vision check says
    # plainly that this model cannot see images.
    # The tiny model is a base (completion) model: it writes until num_predict. 160 tokens keep the sample
    # answer to seconds on a small machine; LLM_NUM_PREDICT in the environment still wins.
    return {"OLLAMA_HOST": state["base_url"], "OLLAMA_MODEL": LOCAL_MODEL,
            "LLM_NUM_PREDICT": os.environ.get("LLM_NUM_PREDICT", "160")}


def processor_env(bootstrap: str, model_env: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **model_env, "BOOTSTRAP_SERVER": bootstrap, "PORT": HTTP_PORT}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


def processor_running() -> bool:
    try:
        os.kill(int(PID_FILE.read_text()), 0)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False


def start_processor(env: dict[str, str]) -> None:
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
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/ready", timeout=2):
            return []
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"{}").get("reasons", [])
    except OSError:
        return None


def send(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "models_processor", "send", *args, "--wait", "180"], cwd=ROOT,
                   env={**env, "LOG_LEVEL": "WARNING"}, check=False)


def up() -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    bootstrap = start_broker()
    say(f"broker ready at {bootstrap}")
    env = processor_env(bootstrap, start_ollama())
    start_processor(env)
    reasons = ready_reasons() or []
    if reasons:
        say("not ready for model calls: " + "; ".join(reasons))
        say("(set OLLAMA_HOST=http://host:11434 before `make run` to use another Ollama server, "
            "e.g. one with a vision model)")
    say("sending a sample text request")
    send(env, "--text", "Suggest a quick dinner with red lentils")
    say(f"sending a sample photo request ({SAMPLE_PHOTO.name}: OCR and parsing, no model needed)")
    send(env, "--photo", str(SAMPLE_PHOTO))
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
    say("stopping the local Ollama (if `make run` started one)")
    subprocess.run([*OLLAMA, "stop", "--run-dir", str(OLLAMA_RUN_DIR)], check=False)
    say("stopping the broker")
    try:
        local_broker().stop()
    except RuntimeError as exc:
        say(f"the broker did not stop cleanly: {exc}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    {"up": up, "down": down}.get(command, lambda: sys.exit(__doc__))()
