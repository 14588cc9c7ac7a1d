"""pytest plugin: a real Ollama server (0.17.4 with the tiny Gemma 3 270M model) for the tests.

Loaded by tests/conftest.py (`pytest_plugins = [..., "testkit.pytest_ollama"]`). Fixtures:

- `ollama_real` (session) -> LocalOllama, started: `.base_url`, `.model`. OLLAMA_HOST set -> that server
  (model: OLLAMA_TEST_MODEL, default "gemma3-tiny"), nothing built. Otherwise testkit/local_ollama/server.py
  builds Ollama once into the user cache, imports the model and starts a server in a temp run dir
  (server defaults: OLLAMA_NUM_PARALLEL=1).
- `ollama_real_factory` (session) -> callable(env={...}) -> another started local server with those server
  variables (e.g. {"OLLAMA_NUM_PARALLEL": "1"}), stopped at the end of the session. Needs the local build.
- `ollama_real_own` (function) -> a local server of this test alone, which it may kill() (SIGKILL to
  server and runner, mid-generation) and restart() on the same URL; stopped after the test.

The build (about 10 minutes on 2 cores, once per machine) runs after collection, before the first test,
outside the per-test timeout, and only when a collected test uses one of these fixtures. No Ollama is a
test error with the reason (what is missing to build it), never a skip.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from testkit.local_ollama.server import child_env
from testkit.ollama_local import BUILD_TIMEOUT_S, SERVER_COMMAND, LocalOllama

FIXTURES = frozenset({"ollama_real", "ollama_real_factory", "ollama_real_own"})
_BUILD_ERROR = pytest.StashKey[str]()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when pytest dies (a CI timeout), so the build stops too."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _build_with_progress(config: pytest.Config) -> str:
    """Run server.py install-model with its progress lines on the terminal; '' or the failure text."""
    capture = config.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\nlocal Ollama: building/importing once into the user cache if needed "
              "(a first build compiles llama.cpp: about 10 minutes on 2 cores)", file=sys.stderr, flush=True)
        proc = subprocess.Popen([*SERVER_COMMAND, "install-model"], env=child_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent)
        lines: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:  # tee: show progress, keep the text for the error
            print(line, end="", file=sys.stderr, flush=True)
            lines.append(line)
        try:
            proc.wait(timeout=max(1.0, BUILD_TIMEOUT_S - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            proc.kill()
            return f"server.py install-model did not finish in {BUILD_TIMEOUT_S:g} s"
    if proc.returncode != 0:
        return f"server.py install-model failed (exit {proc.returncode}):\n{''.join(lines)[-4000:]}"
    return ""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ollama: runs against a real Ollama server (testkit/pytest_ollama.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using these fixtures get the `ollama` marker (`make test-fast` deselects them)."""
    for item in items:
        if FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ollama)


def pytest_collection_finish(session: pytest.Session) -> None:
    used = set().union(*(set(getattr(item, "fixturenames", ())) for item in session.items))
    # OLLAMA_HOST replaces the session server only; a test's own servers are always local.
    local = FIXTURES - {"ollama_real"} if os.environ.get("OLLAMA_HOST") else FIXTURES
    if local & used and not session.config.option.collectonly:
        session.config.stash[_BUILD_ERROR] = _build_with_progress(session.config)


def _require_build(config: pytest.Config) -> None:
    error = config.stash.get(_BUILD_ERROR, "")
    if error:
        pytest.fail(f"no local Ollama for this test (set OLLAMA_HOST to use an existing server):\n{error}",
                    pytrace=False)


def _started(server: LocalOllama) -> LocalOllama:
    try:
        server.start()
    except RuntimeError as exc:
        server.close()
        pytest.fail(f"the local Ollama did not start:\n{exc}", pytrace=False)
    return server


@pytest.fixture(scope="session")
def ollama_real(pytestconfig: pytest.Config) -> Iterator[LocalOllama]:
    server = LocalOllama.from_env()
    if server.controllable:
        _require_build(pytestconfig)
    _started(server)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def ollama_real_factory(pytestconfig: pytest.Config) -> Iterator[Callable[..., LocalOllama]]:
    servers: list[LocalOllama] = []

    def start(env: dict[str, str] | None = None) -> LocalOllama:
        _require_build(pytestconfig)
        server = _started(LocalOllama(env=env))
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def ollama_real_own(pytestconfig: pytest.Config) -> Iterator[LocalOllama]:
    _require_build(pytestconfig)
    server = _started(LocalOllama())
    try:
        yield server
    finally:
        server.close()
