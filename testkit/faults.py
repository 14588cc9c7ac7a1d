"""Fault-injection harness: run the processor as a child process against a real broker and the Ollama
stand-in, send a known set of request ids, inject one kind of fault, and account for every id.

    report = FaultRun("model_down", "exactly_once", requests=200, rate=25).run()
    assert report.lost == 0 and report.eos_duplicates == 0

Kinds (one fault kind per run, possibly injected several times):
  none            baseline, no fault
  kill9           SIGKILL of the processor at random moments (`kills` times), restarted at once with
                  the same TRANSACTIONAL_ID (the new instance fences its predecessor)
  sigterm         SIGTERM during load (graceful drain), then a restart
  model_down      the model server refuses connections for `down_s`, then listens again on its port
  model_503       the model server answers 503 to the next `n503` generations
  broker_restart  the broker (always our own, in a temp run dir) stopped, down `broker_down_s`,
                  restarted with --keep-data on the same port
  rebalance       a second processor (same group, another TRANSACTIONAL_ID) joins mid-run

Accounting, from a read_committed consumer of the text response topic that runs for the whole run:
  sent            ids whose request the broker acknowledged
  answered_ok / answered_error   ids with at least one answer (first answer's status); error answers
                  (model_unavailable, deadline_exceeded, ...) are answers and are also copied to the DLQ
  lost            sent ids with no answer at all once the run recovered (must be 0)
  duplicates      ids with more than one answer visible to read_committed; must be 0 in exactly-once,
                  reported (allowed) in at-least-once
  dlq_count       messages on the DLQ topic
  recover_first_s per fault window: from the end of the fault to the first answer that arrived after it
  recover_all_s   from the end of the last fault to the moment every sent id had an answer
  uncommitted     request offsets not committed by the group at the end (a stuck partition shows here)
Fault windows: kill9/sigterm end when the replacement process is started (so recovery includes its
start, group join and, after kill -9, the dead member's session timeout); model_down ends when the
stand-in listens again; model_503 when the stand-in has rejected `n503` calls; broker_restart when
broker.py start returned; rebalance when the second processor has joined.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from testkit.broker import LocalBroker, create_topics
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.harness import ProcessorProcess, service_env, text_request

KINDS = ("none", "kill9", "sigterm", "model_down", "model_503", "broker_restart", "rebalance")
GUARANTEES = ("exactly_once", "at_least_once")
MODEL = "llava:7b"


# ------------------------------------------------------------------------------------------ reading
class TopicLog:
    """Reads one topic from the beginning on a thread for the whole run; keeps (arrival, key, value).

    Each (partition, offset) is kept once: a reader that loses its group session (a broker restart longer
    than session.timeout.ms) rejoins and reads the topic again from the beginning (it commits nothing),
    which counted every answer twice, read as duplicates under exactly-once. (Assigning the partitions
    instead of subscribing left the reader fetching nothing after a broker restart in 1 run of 5.)"""

    def __init__(self, bootstrap: str, topic: str, isolation: str = "read_committed") -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fault-reader-{uuid.uuid4().hex[:8]}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                   "isolation.level": isolation, "log_level": 0})
        self._consumer.subscribe([topic])
        self._seen: set[tuple[int | None, int | None]] = set()
        self._lock = threading.Lock()
        self.records: list[tuple[float, str, dict | None]] = []
        self.first: dict[str, float] = {}  # key -> arrival of its first record
        self.last_arrival = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{topic}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._consumer.consume(200, 0.2)
            now = time.monotonic()
            with self._lock:
                for message in batch:
                    position = (message.partition(), message.offset())
                    if message.error() is not None or position in self._seen:
                        continue
                    self._seen.add(position)
                    key = (message.key() or b"").decode()
                    try:
                        value = json.loads(message.value()) if message.value() else None
                    except ValueError:
                        value = None
                    self.records.append((now, key, value))
                    self.first.setdefault(key, now)
                    self.last_arrival = now

    def count_keys(self, keys: set[str] | None = None) -> int:
        with self._lock:
            return len(self.first) if keys is None else sum(1 for k in keys if k in self.first)

    def first_arrival_after(self, t: float) -> float | None:
        with self._lock:
            return next((a for a, _, _ in self.records if a > t), None)

    def wait_keys(self, n: int, timeout: float, keys: set[str] | None = None) -> bool:
        until = time.monotonic() + timeout
        while self.count_keys(keys) < n:
            if time.monotonic() > until:
                return False
            time.sleep(0.05)
        return True

    def wait_quiet(self, quiet_s: float, timeout: float = 60.0) -> None:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            with self._lock:
                last = self.last_arrival
            if time.monotonic() - max(last, 0) >= quiet_s:
                return
            time.sleep(0.1)

    def snapshot(self) -> list[tuple[float, str, dict | None]]:
        with self._lock:
            return list(self.records)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        result = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in result)
    finally:
        consumer.close()


# ------------------------------------------------------------------------------------------ sending
class Sender:
    """Produces the known ids, all at once (rate None) or `rate` per second, on a thread."""

    def __init__(self, bootstrap: str, topic: str, ids: list[str], rate: float | None) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                                   "message.timeout.ms": 300_000, "log_level": 0})
        self._topic = topic
        self._ids = ids
        self._rate = rate
        self.acked: set[str] = set()
        self.failed: dict[str, str] = {}
        self.produced = 0
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def _on_delivery(self, err, msg) -> None:
        key = msg.key().decode()
        if err is None:
            self.acked.add(key)
        else:
            self.failed[key] = str(err)

    def _run(self) -> None:
        t0 = time.monotonic()
        for i, rid in enumerate(self._ids):
            if self._rate:
                pause = t0 + i / self._rate - time.monotonic()
                if pause > 0:  # not poll(pause): poll returns early whenever a delivery report is served
                    time.sleep(pause)
            while True:
                try:
                    self._producer.produce(self._topic, key=rid.encode(), value=text_request(f"question {rid}"),
                                           on_delivery=self._on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.1)
            self.produced += 1
            self._producer.poll(0)
        self._producer.flush(330)
        self.done.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


# ------------------------------------------------------------------------------------------ report
@dataclass
class FaultWindow:
    label: str
    start: float  # seconds since the run started
    end: float
    recover_first_s: float | None = None  # end of the fault -> first answer after it


@dataclass
class FaultReport:
    kind: str
    guarantee: str
    sent: int
    answered: int
    answered_ok: int
    answered_error: int
    lost: int
    duplicates: int  # ids answered more than once, as a read_committed consumer sees it
    dlq_count: int
    faults: list[FaultWindow]
    recover_first_s: float | None  # the worst over the fault windows
    recover_all_s: float | None  # last fault end -> every sent id answered
    wall_s: float
    uncommitted: int  # request offsets the group had not committed at the end
    error_codes: dict[str, int] = field(default_factory=dict)
    lost_sample: list[str] = field(default_factory=list)
    duplicate_sample: list[str] = field(default_factory=list)
    send_failed: int = 0
    unexpected_exits: list[str] = field(default_factory=list)  # processes that died without our doing
    notes: list[str] = field(default_factory=list)
    work_dir: str = ""

    @property
    def eos_duplicates(self) -> int:
        """Duplicates that break the exactly-once promise (0 for at-least-once runs by definition)."""
        return self.duplicates if self.guarantee == "exactly_once" else 0

    def to_dict(self) -> dict:
        return {**asdict(self), "eos_duplicates": self.eos_duplicates}

    def summary(self) -> str:
        return (f"{self.kind}/{self.guarantee}: sent={self.sent} ok={self.answered_ok} error={self.answered_error} "
                f"lost={self.lost} dup={self.duplicates} dlq={self.dlq_count} faults={len(self.faults)} "
                f"recover_first={_fmt(self.recover_first_s)} recover_all={_fmt(self.recover_all_s)} "
                f"uncommitted={self.uncommitted} wall={self.wall_s:.1f}s"
                + (f" lost_sample={self.lost_sample}" if self.lost_sample else "")
                + (f" unexpected_exits={self.unexpected_exits}" if self.unexpected_exits else "")
                + (f" notes={self.notes}" if self.notes else "") + f" logs={self.work_dir}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def markdown_table(reports: list[FaultReport]) -> str:
    lines = ["| fault | guarantee | sent | answered (ok/error) | lost | dup (read_committed) | DLQ | faults | "
             "recover first | recover all | uncommitted | wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r.kind} | {r.guarantee} | {r.sent} | {r.answered} ({r.answered_ok}/{r.answered_error}) | "
                     f"{r.lost} | {r.duplicates} | {r.dlq_count} | {len(r.faults)} | {_fmt(r.recover_first_s)} | "
                     f"{_fmt(r.recover_all_s)} | {r.uncommitted} | {r.wall_s:.0f}s |")
    return "\n".join(lines)


def write_json(path: Path, reports: list[FaultReport], **meta) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "runs": [r.to_dict() for r in reports]}, indent=2))
    return path


# ------------------------------------------------------------------------------------------ the run
class FaultRun:
    """One fault kind under one guarantee. `bootstrap=None` starts (and stops) an own broker; the
    broker_restart kind always uses an own broker, never a shared one."""

    def __init__(self, kind: str, guarantee: str, requests: int = 200, *, rate: float | None = None,
                 partitions: int = 4, bootstrap: str | None = None, work_dir: Path | None = None,
                 seed: int = 0, concurrency: int = 8, deadline_s: float = 30.0, latency_s: float = 0.05,
                 num_parallel: int = 4, kills: int = 3, down_s: float = 3.0, n503: int = 20,
                 broker_down_s: float = 5.0, trigger_fraction: float = 0.3, recover_timeout_s: float = 120.0,
                 quiet_s: float = 2.0, session_timeout_ms: int | None = 10_000, grace_s: float = 20.0,
                 commit_wait_s: float = 15.0, extra_env: dict[str, str] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        if guarantee not in GUARANTEES:
            raise ValueError(f"unknown guarantee {guarantee!r}")
        self.kind, self.guarantee, self.requests, self.rate = kind, guarantee, requests, rate
        self.partitions, self.bootstrap = partitions, bootstrap
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix=f"fault-{kind}-{guarantee}-"))
        self.rng = random.Random(seed)
        self.concurrency, self.deadline_s, self.latency_s, self.num_parallel = concurrency, deadline_s, latency_s, num_parallel
        self.kills, self.down_s, self.n503, self.broker_down_s = kills, down_s, n503, broker_down_s
        self.trigger_fraction, self.recover_timeout_s, self.quiet_s = trigger_fraction, recover_timeout_s, quiet_s
        self.session_timeout_ms, self.grace_s, self.commit_wait_s = session_timeout_ms, grace_s, commit_wait_s
        self.extra_env = extra_env or {}
        self.notes: list[str] = []
        self._processes: list[tuple[str, ProcessorProcess]] = []
        self._slots: dict[int, ProcessorProcess] = {}  # 0: the main processor, 1: the rebalance newcomer
        self._slot_lock = threading.Lock()
        self._unexpected: list[str] = []
        self._supervising = threading.Event()
        self._stopped_by_us: set[int] = set()
        self._windows: list[FaultWindow] = []
        self._t0 = 0.0

    # -------------------------------------------------------------------- processes
    def _spawn(self, tx_suffix: int) -> ProcessorProcess:
        env = dict(self._env, TRANSACTIONAL_ID=f"{self._tx_base}-{tx_suffix}")
        label = f"processor-{len(self._processes)}-tx{tx_suffix}"
        process = ProcessorProcess(env, self.work_dir / f"{label}.log").start()
        self._processes.append((label, process))
        self._slots[tx_suffix] = process
        return process

    @property
    def _current(self) -> ProcessorProcess:
        return self._slots[0]

    def _supervise(self) -> None:
        """The orchestrator's part (restartPolicy: Always): a processor that exits without our doing is
        recorded as an unexpected exit and started again with the same TRANSACTIONAL_ID."""
        while not self._supervising.wait(0.5):
            with self._slot_lock:
                for slot, process in list(self._slots.items()):
                    if id(process) in self._stopped_by_us or process.alive():
                        continue
                    label = next(lb for lb, p in self._processes if p is process)
                    self._unexpected.append(f"{label} exit {process.proc.returncode} at {self._now():.1f}s")
                    self._stopped_by_us.add(id(process))
                    self._spawn(slot)

    def _joined(self, process: ProcessorProcess) -> bool:
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

    def _wait_joined(self, process: ProcessorProcess, timeout: float = 90.0) -> None:
        until = time.monotonic() + timeout
        while not self._joined(process):
            if not process.alive():
                raise RuntimeError(f"processor exited at start:\n{process.log_text()[-3000:]}")
            if time.monotonic() > until:
                raise RuntimeError(f"processor never joined its group:\n{process.log_text()[-3000:]}")
            time.sleep(0.1)

    def _kill(self, process: ProcessorProcess) -> None:
        self._stopped_by_us.add(id(process))
        process.kill()

    def _terminate(self, process: ProcessorProcess) -> int | None:
        self._stopped_by_us.add(id(process))
        try:
            return process.terminate(self.grace_s + 30)
        except subprocess.TimeoutExpired:
            self.notes.append("SIGTERM: process did not exit in grace+30 s; killed")
            process.stop()
            return None

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _trigger(self, fraction: float) -> None:
        """Wait until `fraction` of the ids has an answer (or the run stalls)."""
        if not self._answers.wait_keys(int(self.requests * fraction), self.recover_timeout_s, self._ids):
            self.notes.append(f"trigger at {fraction:.2f} never reached; injected anyway")

    # -------------------------------------------------------------------- faults
    def _inject(self) -> None:
        kind = self.kind
        if kind == "none":
            return
        if kind == "kill9":
            thresholds = sorted(self.rng.uniform(0.1, 0.85) for _ in range(self.kills))
            for fraction in thresholds:
                self._trigger(fraction)
                time.sleep(self.rng.uniform(0.0, 0.5))
                start = self._now()
                with self._slot_lock:
                    self._kill(self._current)
                    self._spawn(0)
                self._windows.append(FaultWindow("kill -9", start, self._now()))
        elif kind == "sigterm":
            self._trigger(self.trigger_fraction)
            start = self._now()
            with self._slot_lock:
                code = self._terminate(self._current)
                if code != 0:
                    self.notes.append(f"SIGTERM exit code {code}")
                self._spawn(0)
            self._windows.append(FaultWindow("SIGTERM + restart", start, self._now()))
        elif kind == "model_down":
            self._trigger(self.trigger_fraction)
            start = self._now()
            self._standin.set_down(True)
            time.sleep(self.down_s)
            self._standin.set_down(False)
            self._windows.append(FaultWindow(f"model server down {self.down_s:g}s", start, self._now()))
        elif kind == "model_503":
            self._trigger(self.trigger_fraction)
            base = self._standin.stats.rejected_503
            start = self._now()
            self._standin.fail_with_503(self.n503)
            until = time.monotonic() + self.recover_timeout_s
            while self._standin.stats.rejected_503 < base + self.n503 and time.monotonic() < until:
                time.sleep(0.02)
            rejected = self._standin.stats.rejected_503 - base
            if rejected < self.n503:
                self.notes.append(f"only {rejected} of {self.n503} 503s were served")
            self._windows.append(FaultWindow(f"{rejected} x 503", start, self._now()))
        elif kind == "broker_restart":
            self._trigger(self.trigger_fraction)
            start = self._now()
            self._broker.stop()
            time.sleep(self.broker_down_s)
            self._broker.start(keep_data=True)
            self._windows.append(FaultWindow(f"broker down {self.broker_down_s:g}s", start, self._now()))
        elif kind == "rebalance":
            self._trigger(self.trigger_fraction)
            start = self._now()
            with self._slot_lock:
                second = self._spawn(1)
            self._wait_joined(second)
            self._windows.append(FaultWindow("second processor joined", start, self._now()))

    # -------------------------------------------------------------------- run
    def run(self) -> FaultReport:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        own: LocalBroker | None = None
        if self.bootstrap is None or self.kind == "broker_restart":
            own = LocalBroker(self.work_dir / "kafka")
            self.bootstrap = own.start()
        self._broker = own
        self._standin = OllamaStandIn(models=(MODEL,), num_parallel=self.num_parallel, latency_s=self.latency_s)
        self._standin.start()
        tag = uuid.uuid4().hex[:8]
        topic = f"fault-{self.kind.replace('_', '-')}-{tag}"
        self._tx_base = f"tx-{tag}"
        self._env = service_env(
            self.bootstrap, topic, f"{topic}-g", OLLAMA_HOST=self._standin.url, OLLAMA_MODEL=MODEL,
            OLLAMA_WARMUP="false", RESULT_CACHE_SIZE="0", PROCESSING_GUARANTEE=self.guarantee,
            OLLAMA_NUM_PARALLEL=str(self.num_parallel),  # the stand-in's slots: the client's in-flight cap
            CONCURRENT_REQUESTS=str(self.concurrency), REQUEST_DEADLINE_SECONDS=str(self.deadline_s),
            SHUTDOWN_GRACE_SECONDS=str(self.grace_s),
            **({"KAFKA_SESSION_TIMEOUT_MS": str(self.session_timeout_ms)} if self.session_timeout_ms else {}),
            **{"LOG_LEVEL": "INFO", **self.extra_env})  # extra_env may raise it (librdkafka debug is DEBUG)
        create_topics(self.bootstrap, {topic: self.partitions, self._env["TEXT_RESPONSE_TOPIC"]: self.partitions,
                                       self._env["PHOTO_RESPONSE_TOPIC"]: 1, self._env["DLQ_TOPIC"]: 1})
        self._ids = {f"r{i:05d}" for i in range(self.requests)}
        ordered = sorted(self._ids)
        self._answers = TopicLog(self.bootstrap, self._env["TEXT_RESPONSE_TOPIC"])
        sender: Sender | None = None
        try:
            self._wait_joined(self._spawn(0))
            self._t0 = time.monotonic()
            threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
            sender = Sender(self.bootstrap, topic, ordered, self.rate).start()
            self._inject()
            sender.join(400)
            last_end = max((w.end for w in self._windows), default=0.0)
            # Recovery: every acknowledged id answered (or time is up), then a quiet spell for late duplicates.
            self._answers.wait_keys(len(sender.acked), self.recover_timeout_s, set(sender.acked))
            all_at = self._answers.count_keys(sender.acked) == len(sender.acked)
            recover_all = None
            if all_at:
                last_first = max(self._answers.first[k] for k in sender.acked) - self._t0 if sender.acked else 0.0
                recover_all = max(0.0, last_first - last_end) if self._windows else None
            self._answers.wait_quiet(self.quiet_s)
            uncommitted = self._uncommitted(topic, len(sender.acked))
        finally:
            self._supervising.set()
            with self._slot_lock:
                pass  # a restart in progress has finished
            unexpected = self._unexpected + [
                f"{label} exit {p.proc.returncode}" for label, p in self._processes
                if id(p) not in self._stopped_by_us and not p.alive()]
            for _, process in self._processes:
                if process.alive():
                    self._terminate(process)
            self._standin.stop()
        dlq = TopicLog(self.bootstrap, self._env["DLQ_TOPIC"])
        try:
            dlq.wait_quiet(2.0, timeout=15)
            dlq_count = len(dlq.snapshot())
        finally:
            dlq.close()
        records = self._answers.snapshot()
        self._answers.close()
        if own is not None:
            own.close()
        return self._account(sender, records, dlq_count, recover_all, uncommitted, unexpected)

    def _uncommitted(self, topic: str, sent: int) -> int:
        until = time.monotonic() + self.commit_wait_s
        while True:
            try:
                total = committed_total(self.bootstrap, self._env["CONSUMER_GROUP"], topic, self.partitions)
            except Exception as exc:
                self.notes.append(f"committed offsets unreadable: {exc}")
                return -1
            if total >= sent or time.monotonic() > until:
                return max(0, sent - total)
            time.sleep(0.5)

    def _account(self, sender: Sender, records, dlq_count: int, recover_all: float | None,
                 uncommitted: int, unexpected: list[str]) -> FaultReport:
        sent = sender.acked
        by_key: dict[str, list[dict | None]] = {}
        for _, key, value in records:
            by_key.setdefault(key, []).append(value)
        answered = [k for k in sent if k in by_key]
        lost = sorted(sent - set(by_key))
        statuses = {k: (by_key[k][0] or {}).get("status") for k in answered}
        ok = sum(1 for s in statuses.values() if s == "ok")
        codes = Counter(str(((by_key[k][0] or {}).get("error") or {}).get("code")) for k, s in statuses.items()
                        if s != "ok")
        duplicates = sorted(k for k in answered if len(by_key[k]) > 1)
        for window in self._windows:
            first = self._answers_first_after(records, window.end)
            window.recover_first_s = None if first is None else round(first - window.end, 2)
        recover_first = [w.recover_first_s for w in self._windows if w.recover_first_s is not None]
        report = FaultReport(
            kind=self.kind, guarantee=self.guarantee, sent=len(sent), answered=len(answered), answered_ok=ok,
            answered_error=len(answered) - ok, lost=len(lost), duplicates=len(duplicates), dlq_count=dlq_count,
            faults=self._windows, recover_first_s=max(recover_first) if recover_first else None,
            recover_all_s=None if recover_all is None else round(recover_all, 2),
            wall_s=round(time.monotonic() - self._t0, 1), uncommitted=uncommitted, error_codes=dict(codes),
            lost_sample=lost[:10], duplicate_sample=duplicates[:10], send_failed=len(sender.failed),
            unexpected_exits=unexpected, notes=self.notes, work_dir=str(self.work_dir))
        (self.work_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        return report

    def _answers_first_after(self, records, end_rel: float) -> float | None:
        end_abs = self._t0 + end_rel
        first = next((a for a, _, _ in records if a > end_abs), None)
        return None if first is None else first - self._t0


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="run one fault (see bench/faults/run.py for all of them)",
                                     prog="python -m testkit.faults")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--guarantee", choices=GUARANTEES, default="exactly_once")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    from testkit.fakes.quiet import quiet_standin_disconnects

    quiet_standin_disconnects()
    report = FaultRun(args.kind, args.guarantee, args.requests, rate=args.rate,
                      bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")).run()
    print(report.summary())


if __name__ == "__main__":
    main()
