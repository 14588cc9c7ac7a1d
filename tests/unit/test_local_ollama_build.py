"""testkit/local_ollama (`python -m testkit.local_ollama`) without a server: what it says when it cannot build, and its cache reuse."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testkit.ollama_local import SERVER_COMMAND, normalize_host


def _server_py(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER_COMMAND, *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120, stdin=subprocess.DEVNULL)


def test_build_names_every_missing_tool_and_builds_nothing(tmp_path: Path) -> None:
    missing = {"LOCAL_OLLAMA_CACHE": str(tmp_path), "LOCAL_OLLAMA_GO": "/nonexistent/go",
               "CC": "/nonexistent/gcc", "CXX": "/nonexistent/g++"}
    proc = _server_py("build", env=missing)
    assert proc.returncode == 1
    assert "cannot build Ollama 0.17.4" in proc.stderr
    assert "Go not found" in proc.stderr and "install Go >= 1.24.1" in proc.stderr
    assert "no C compiler" in proc.stderr and "no C++ compiler" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ollama-0.17.4" / "bin" / "ollama").exists()


def test_a_built_binary_is_reused_without_any_toolchain(tmp_path: Path) -> None:
    """The second call finds the cached binary: no Go, no compiler, no download is needed."""
    binary = tmp_path / "ollama-0.17.4" / "bin" / "ollama"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    proc = _server_py("build", env={"LOCAL_OLLAMA_CACHE": str(tmp_path), "LOCAL_OLLAMA_GO": "/nonexistent/go",
                                    "CC": "/nonexistent/gcc", "CXX": "/nonexistent/g++"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(binary)
    assert "building" not in proc.stderr


def test_ollama_host_is_read_as_ollama_reads_it() -> None:
    assert normalize_host("localhost") == "http://localhost:11434"
    assert normalize_host("10.0.0.5:8080") == "http://10.0.0.5:8080"
    assert normalize_host("https://models.example/") == "https://models.example:443"
    assert normalize_host("http://models.example") == "http://models.example:80"
    assert normalize_host("http://[::1]:11500") == "http://[::1]:11500"
