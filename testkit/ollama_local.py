"""The real Ollama for tests, benchmarks and `make run`: the one wrapper of testkit/local_ollama/server.py.

    with LocalOllama(env={"OLLAMA_NUM_PARALLEL": "2"}) as server:   # a temp run dir, removed on exit
        requests.post(f"{server.base_url}/api/generate", json={"model": server.model, ...})

`LocalOllama.from_env()` uses OLLAMA_HOST instead when it is set (an existing server: never built,
started or stopped; its model is OLLAMA_TEST_MODEL, default the tiny model's name). The local server is
Ollama 0.17.4 built from the Go module proxy into the user cache on first use (about 10 minutes on 2
cores) with Gemma 3 270M from PyPI imported as `gemma3-tiny`; see docs/local-ollama.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from testkit.local_ollama.build import MODEL_NAME, OLLAMA_VERSION
from testkit.local_ollama.server import COMMAND, child_env

REPO = Path(__file__).resolve().parent.parent
SERVER_COMMAND = COMMAND  # python -m testkit.local_ollama
LOCAL_MODEL = MODEL_NAME
LOCAL_VERSION = OLLAMA_VERSION
# A cold build is about 10 minutes on 2 idle cores; a busy CI box can take twice that.
BUILD_TIMEOUT_S = 3600.0
START_TIMEOUT_S = 180.0
DEFAULT_PORT = 11434

__all__ = ["LOCAL_MODEL", "SERVER_COMMAND", "LocalOllama", "ensure_built", "normalize_host", "run_server_script"]


def run_server_script(*args: str, timeout: float = START_TIMEOUT_S) -> str:
    """Run `python -m testkit.local_ollama` with `args`; its stdout, or RuntimeError with its stderr."""
    try:
        proc = subprocess.run([*SERVER_COMMAND, *args], capture_output=True, text=True, env=child_env(),
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"server.py {' '.join(args)} did not finish in {timeout:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"server.py {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip()


def ensure_built() -> None:
    """Build the binary and import the model (once per machine); the first time takes minutes."""
    run_server_script("install-model", timeout=BUILD_TIMEOUT_S)


def normalize_host(host: str) -> str:
    """OLLAMA_HOST as Ollama's own envconfig.Host reads it -> a base URL: no scheme means http and port
    11434; an explicit http:// or https:// without a port means 80 or 443."""
    host = host.strip()
    scheme, sep, rest = host.partition("://")
    default_port = {"http": 80, "https": 443}.get(scheme, DEFAULT_PORT) if sep else DEFAULT_PORT
    if not sep:
        scheme, rest = "http", host
    rest = rest.split("/", 1)[0] or "127.0.0.1"
    if ":" not in rest.rsplit("]", 1)[-1]:
        rest = f"{rest}:{default_port}"
    return f"{scheme}://{rest}"


class LocalOllama:
    """`ollama serve` in `run_dir` (a temp dir, removed by close(), when None), watched by this process.

    `env` holds server variables (OLLAMA_NUM_PARALLEL, OLLAMA_KEEP_ALIVE, ...). kill() is SIGKILL to the
    server and its runner (mid-generation faults); start(same_port=True) brings it back on the same URL."""

    def __init__(self, run_dir: Path | None = None, *, env: dict[str, str] | None = None, watch: bool = True,
                 external: str | None = None, model: str = LOCAL_MODEL) -> None:
        self._temp = run_dir is None and external is None
        self.run_dir = run_dir if run_dir is not None or external else Path(tempfile.mkdtemp(prefix="ollama-"))
        self.env = dict(env or {})
        self.watch = watch
        self.external = normalize_host(external) if external else None
        self.model = model
        self.base_url = self.external or ""
        self.pid = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LocalOllama:
        """OLLAMA_HOST when set (never started or stopped), else a local server with `env`."""
        external = os.environ.get("OLLAMA_HOST") or None
        model = os.environ.get("OLLAMA_TEST_MODEL", LOCAL_MODEL) if external else LOCAL_MODEL
        return cls(external=external, env=env, model=model)

    @property
    def controllable(self) -> bool:
        return self.external is None

    @property
    def host(self) -> str:
        """host:port, as OLLAMA_HOST is written for Ollama's own CLI."""
        return self.base_url.partition("://")[2]

    def start(self, same_port: bool = False) -> str:
        if self.external is not None:
            return self.external
        assert self.run_dir is not None
        args = ["start", "--json", "--run-dir", str(self.run_dir)]
        args += [f"--env={key}={value}" for key, value in self.env.items()]
        if self.watch:
            args += ["--watch-pid", str(os.getpid())]
        if same_port:
            args.append("--same-port")
        state = json.loads(run_server_script(*args, timeout=BUILD_TIMEOUT_S))
        self.base_url, self.pid = state["base_url"], int(state["pid"])
        return self.base_url

    def stop(self) -> None:
        if self.external is None and self.run_dir is not None:
            run_server_script("stop", "--run-dir", str(self.run_dir))

    def kill(self) -> None:
        """SIGKILL the server and its runner at once: no graceful end of the streams in flight."""
        if self.external is not None:
            raise RuntimeError(f"the Ollama server at {self.external} (OLLAMA_HOST) is not ours to kill")
        assert self.run_dir is not None
        run_server_script("stop", "--kill", "--run-dir", str(self.run_dir))

    def restart(self) -> str:
        """Start again after kill()/stop() on the same port (the model is already imported)."""
        return self.start(same_port=True)

    def api(self, path: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """GET (no body) or POST a JSON body to the server; the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def log_text(self) -> str:
        """The server's log so far (load counts, runner starts); empty for an external server."""
        if self.run_dir is None:
            return ""
        path = self.run_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def model_loads(self) -> int:
        """How many model loads this server has done (its "llama runner started in" log lines): a reload
        caused by differing runner options shows up here. Local servers only (an external log is not ours)."""
        if self.external is not None:
            raise RuntimeError(f"the log of the Ollama server at {self.external} (OLLAMA_HOST) is not readable")
        return self.log_text().count("llama runner started in")

    def close(self) -> None:
        self.stop()
        if self._temp and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> LocalOllama:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
