"""The processors of a fault run, as an orchestrator keeps them: started, supervised, killed, stopped.

Slot 0 is the main processor, slot 1 the newcomer of the rebalance kind; each slot has its own
TRANSACTIONAL_ID, which a restart in the same slot keeps (so the new instance fences its predecessor).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from testkit.harness import ProcessorProcess


class ProcessorFleet:
    def __init__(self, env: dict[str, str], tx_base: str, work_dir: Path, *, grace_s: float,
                 clock: Callable[[], float], notes: list[str]) -> None:
        self._env = env
        self._tx_base = tx_base
        self._work_dir = work_dir
        self._grace_s = grace_s
        self._clock = clock  # seconds since the run started
        self._notes = notes
        self._processes: list[tuple[str, ProcessorProcess]] = []
        self._slots: dict[int, ProcessorProcess] = {}
        self._unexpected: list[str] = []
        self._stopped_by_us: set[int] = set()
        self._supervising = threading.Event()
        # Held while a slot's process is replaced, so the supervisor never sees the gap.
        self.lock = threading.Lock()

    def spawn(self, slot: int) -> ProcessorProcess:
        env = dict(self._env, TRANSACTIONAL_ID=f"{self._tx_base}-{slot}")
        label = f"processor-{len(self._processes)}-tx{slot}"
        process = ProcessorProcess(env, self._work_dir / f"{label}.log").start()
        self._processes.append((label, process))
        self._slots[slot] = process
        return process

    @property
    def current(self) -> ProcessorProcess:
        return self._slots[0]

    def supervise(self) -> None:
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()

    def _supervise(self) -> None:
        """The orchestrator's part (restartPolicy: Always): a processor that exits without our doing is
        recorded as an unexpected exit and started again with the same TRANSACTIONAL_ID."""
        while not self._supervising.wait(0.5):
            with self.lock:
                for slot, process in list(self._slots.items()):
                    if id(process) in self._stopped_by_us or process.alive():
                        continue
                    label = next(lb for lb, p in self._processes if p is process)
                    self._unexpected.append(f"{label} exit {_exit_code(process)} at {self._clock():.1f}s")
                    self._stopped_by_us.add(id(process))
                    self.spawn(slot)

    def wait_joined(self, process: ProcessorProcess, timeout: float = 90.0) -> None:
        until = time.monotonic() + timeout
        while not _joined(process):
            if not process.alive():
                raise RuntimeError(f"processor exited at start:\n{process.log_text()[-3000:]}")
            if time.monotonic() > until:
                raise RuntimeError(f"processor never joined its group:\n{process.log_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self, process: ProcessorProcess) -> None:
        self._stopped_by_us.add(id(process))
        process.kill()

    def terminate(self, process: ProcessorProcess) -> int | None:
        self._stopped_by_us.add(id(process))
        try:
            return process.terminate(self._grace_s + 30)
        except subprocess.TimeoutExpired:
            self._notes.append("SIGTERM: process did not exit in grace+30 s; killed")
            process.stop()
            return None

    def stop_all(self) -> list[str]:
        """Stop supervising, SIGTERM whatever still runs; the exits that were not our doing."""
        self._supervising.set()
        with self.lock:
            pass  # a restart in progress has finished
        unexpected = self._unexpected + [
            f"{label} exit {_exit_code(p)}" for label, p in self._processes
            if id(p) not in self._stopped_by_us and not p.alive()]
        for _, process in self._processes:
            if process.alive():
                self.terminate(process)
        return unexpected


def _exit_code(process: ProcessorProcess) -> int | None:
    return None if process.proc is None else process.proc.returncode


def _joined(process: ProcessorProcess) -> bool:
    try:
        with urllib.request.urlopen(process.url("/ready"), timeout=2) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503: not ready, the body says why
        try:
            body = json.loads(exc.read())
        except ValueError:
            return False
    except (OSError, ValueError):
        return False
    return not any("joined" in r or "shutting" in r for r in body.get("reasons", []))
