"""How many times each offset has been read without finishing, kept across crashes of the process.

A request that crashes the process (a native crash in an image decoder, memory exhaustion) is read again
by the restarted process and crashes it again: a crash loop that holds its partition. The start of each
attempt is appended to a small file per partition before the request is processed, and its end after;
what a crash leaves behind counts as an attempt the next time the partition is assigned here (and the
request then runs alone: isolation.py). A graceful revoke or
shutdown clears the file (nothing crashed). With an emptyDir volume the count survives container
restarts in a pod; a partition that moves to another pod starts counting again (see docs/guarantees.md).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

TP = tuple[str, int]


class AttemptLog:
    """Only the dispatcher thread calls it. `directory` None: counting is off (every read is attempt 1)."""

    def __init__(self, directory: Path | None, group: str) -> None:
        self._directory = directory
        self._group = group
        self._earlier: dict[TP, dict[int, int]] = {}  # attempts that ended without finishing
        # One write(2) per line on a descriptor kept open while the partition is assigned (a process crash
        # keeps what was written: the page cache is the kernel's). Opening the file per line cost the loop
        # more than everything else it does per message.
        self._fds: dict[TP, int] = {}
        # Ends are written with the next start or flush (one write per message): an end a crash loses only
        # makes a finished request look unfinished, and it then runs alone once more (isolation.py).
        self._ends: dict[TP, str] = {}

    def assigned(self, tp: TP) -> None:
        path = self._path(tp)
        if path is None:
            return
        counts = _read(path)
        self._earlier[tp] = counts
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"={o} {n}\n" for o, n in sorted(counts.items())))
            self._close(tp)
            self._fds[tp] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("attempt log not writable; redeliveries are not counted", extra={"error": str(exc)})
            self._directory = None
        if counts:
            log.warning("offsets left unfinished by an earlier process", extra={"partition": tp[1],
                                                                                 "offsets": sorted(counts)})

    def earlier(self, tp: TP, offset: int) -> int:
        """How many earlier attempts at `offset` ended without finishing (the process died)."""
        return self._earlier.get(tp, {}).pop(offset, 0)

    def start(self, tp: TP, offset: int) -> None:
        """Record that processing of `offset` begins (written before the worker gets it)."""
        self._append(tp, self._ends.pop(tp, "") + f"+{offset}\n")

    def finish(self, tp: TP, offset: int) -> None:
        if tp in self._fds:
            self._ends[tp] = self._ends.get(tp, "") + f"-{offset}\n"

    def flush(self) -> None:
        for tp in list(self._ends):
            self._append(tp, self._ends.pop(tp))

    def released(self, tp: TP) -> None:
        self._earlier.pop(tp, None)
        self._ends.pop(tp, None)
        self._close(tp)
        path = self._path(tp)
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    def _append(self, tp: TP, line: str) -> None:
        fd = self._fds.get(tp)
        if fd is None:
            return  # not assigned (a late finish after a revoke), or counting is off
        try:
            os.write(fd, line.encode())
        except OSError:
            pass

    def _close(self, tp: TP) -> None:
        fd = self._fds.pop(tp, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _path(self, tp: TP) -> Path | None:
        if self._directory is None:
            return None
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{self._group}.{tp[0]}.{tp[1]}")
        return self._directory / f"{name}.attempts"


def _read(path: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    try:
        lines = path.read_text(encoding="ascii", errors="ignore").splitlines()
    except OSError:
        return counts
    for line in lines:
        try:
            if line.startswith("+"):
                offset = int(line[1:])
                counts[offset] = counts.get(offset, 0) + 1
            elif line.startswith("-"):
                counts.pop(int(line[1:]), None)
            elif line.startswith("="):
                offset_text, count_text = line[1:].split()
                counts[int(offset_text)] = int(count_text)
        except ValueError:
            continue  # a torn last line
    return counts


def default_directory(configured: str) -> Path:
    return Path(configured) if configured else Path(os.environ.get("TMPDIR", "/tmp")) / "models-processor"
