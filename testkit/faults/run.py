"""One fault run: a broker, the Ollama stand-in, the processors, the requests, one kind of fault, the account."""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from testkit.broker import LocalBroker, create_topics
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.harness import service_env

from .kinds import KINDS, FaultContext, FaultKind, FaultSizes, inject
from .processes import ProcessorFleet
from .reading import TopicLog, committed_total
from .report import FaultReport, RunFacts, account
from .sending import Sender

GUARANTEES = ("exactly_once", "at_least_once")
MODEL = "llava:7b"


@dataclass
class _Outcome:
    """What the driving part of a run leaves for the account."""

    sender: Sender | None = None
    recover_all_s: float | None = None
    uncommitted: int = -1
    unexpected: tuple[str, ...] = ()


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
        self.kind, self.guarantee, self.requests, self.rate = FaultKind(kind), guarantee, requests, rate
        self.partitions, self.bootstrap = partitions, bootstrap
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix=f"fault-{kind}-{guarantee}-"))
        self.rng = random.Random(seed)
        self.concurrency, self.deadline_s, self.latency_s, self.num_parallel = concurrency, deadline_s, latency_s, num_parallel
        self.sizes = FaultSizes(kills, down_s, n503, broker_down_s, trigger_fraction, recover_timeout_s)
        self.quiet_s, self.session_timeout_ms = quiet_s, session_timeout_ms
        self.grace_s, self.commit_wait_s = grace_s, commit_wait_s
        self.extra_env = extra_env or {}
        self.notes: list[str] = []
        self._t0 = 0.0

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _service_env(self, topic: str, standin: OllamaStandIn) -> dict[str, str]:
        assert self.bootstrap is not None
        session = {"KAFKA_SESSION_TIMEOUT_MS": str(self.session_timeout_ms)} if self.session_timeout_ms else {}
        return service_env(
            self.bootstrap, topic, f"{topic}-g", OLLAMA_HOST=standin.url, OLLAMA_MODEL=MODEL,
            OLLAMA_WARMUP="false", RESULT_CACHE_SIZE="0", PROCESSING_GUARANTEE=self.guarantee,
            OLLAMA_NUM_PARALLEL=str(self.num_parallel),  # the stand-in's slots: the client's in-flight cap
            CONCURRENT_REQUESTS=str(self.concurrency), REQUEST_DEADLINE_SECONDS=str(self.deadline_s),
            SHUTDOWN_GRACE_SECONDS=str(self.grace_s), **session,
            **{"LOG_LEVEL": "INFO", **self.extra_env})  # extra_env may raise it (librdkafka debug is DEBUG)

    def run(self) -> FaultReport:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        own: LocalBroker | None = None
        if self.bootstrap is None or self.kind is FaultKind.BROKER_RESTART:
            own = LocalBroker(self.work_dir / "kafka")
            self.bootstrap = own.start()
        try:
            return self._run(own)
        finally:
            if own is not None:
                own.close()

    def _run(self, own: LocalBroker | None) -> FaultReport:
        assert self.bootstrap is not None
        standin = OllamaStandIn(models=(MODEL,), num_parallel=self.num_parallel, latency_s=self.latency_s)
        standin.start()
        tag = uuid.uuid4().hex[:8]
        topic = f"fault-{self.kind.value.replace('_', '-')}-{tag}"
        env = self._service_env(topic, standin)
        create_topics(self.bootstrap, {topic: self.partitions, env["TEXT_RESPONSE_TOPIC"]: self.partitions,
                                       env["PHOTO_RESPONSE_TOPIC"]: 1, env["DLQ_TOPIC"]: 1})
        fleet = ProcessorFleet(env, f"tx-{tag}", self.work_dir, grace_s=self.grace_s, clock=self._now,
                               notes=self.notes)
        ctx = FaultContext(self.sizes, fleet, TopicLog(self.bootstrap, env["TEXT_RESPONSE_TOPIC"]),
                           {f"r{i:05d}" for i in range(self.requests)}, standin, own, self.rng, self._now,
                           self.notes)
        outcome = _Outcome()
        try:
            self._drive(ctx, topic, env["CONSUMER_GROUP"], outcome)
        finally:
            outcome.unexpected = tuple(fleet.stop_all())
            standin.stop()
        dlq_count = self._count(env["DLQ_TOPIC"])
        records = ctx.answers.snapshot()
        repeated = ctx.answers.repeated()
        ctx.answers.close()
        if repeated:
            self._note_repeats(env["TEXT_RESPONSE_TOPIC"], repeated, len({key for _, key, _ in records}))
        sender = outcome.sender
        assert sender is not None
        return account(RunFacts(
            self.kind.value, self.guarantee, sender.acked, len(sender.failed), ctx.windows, self._t0, self._now(),
            dlq_count, outcome.recover_all_s, outcome.uncommitted, list(outcome.unexpected), self.notes,
            self.work_dir), records)

    def _drive(self, ctx: FaultContext, topic: str, group: str, outcome: _Outcome) -> None:
        """Start the first processor, send, inject the fault, then wait for recovery and a quiet spell."""
        ctx.fleet.wait_joined(ctx.fleet.spawn(0))
        self._t0 = time.monotonic()
        ctx.fleet.supervise()
        assert self.bootstrap is not None
        sender = outcome.sender = Sender(self.bootstrap, topic, sorted(ctx.ids), self.rate).start()
        inject(self.kind, ctx)
        sender.join(400)
        last_end = max((w.end for w in ctx.windows), default=0.0)
        # Recovery: every acknowledged id answered (or time is up), then a quiet spell for late duplicates.
        ctx.answers.wait_keys(len(sender.acked), self.sizes.recover_timeout_s, set(sender.acked))
        if ctx.answers.count_keys(sender.acked) == len(sender.acked) and ctx.windows:
            last_first = max((ctx.answers.first[k] for k in sender.acked), default=self._t0) - self._t0
            outcome.recover_all_s = max(0.0, last_first - last_end)
        ctx.answers.wait_quiet(self.quiet_s)
        outcome.uncommitted = self._uncommitted(topic, group, len(sender.acked))

    def _note_repeats(self, topic: str, repeated: dict[str, list[tuple[int, int]]], keys: int) -> None:
        """Where each repeated answer sits (to match with the processors' transactions), and whether a fresh
        read_committed reader of the finished topic sees the repeats too: one that does not means the live
        reader was handed records the topic does not hold as committed."""
        self.notes.append("repeated answers (partition@offset): " + "; ".join(
            f"{key} " + ", ".join(f"{p}@{o}" for p, o in spots) for key, spots in sorted(repeated.items())[:10]))
        assert self.bootstrap is not None
        fresh = TopicLog(self.bootstrap, topic)
        try:
            fresh.wait_keys(keys, timeout=30)
            fresh.wait_quiet(2.0, timeout=15)
            again = fresh.repeated()
        finally:
            fresh.close()
        self.notes.append(f"a fresh read_committed reader of the finished topic sees {len(again)} repeated ids"
                          + (f": {sorted(again)[:10]}" if again else ""))

    def _count(self, topic: str) -> int:
        assert self.bootstrap is not None
        log = TopicLog(self.bootstrap, topic)
        try:
            log.wait_quiet(2.0, timeout=15)
            return len(log.snapshot())
        finally:
            log.close()

    def _uncommitted(self, topic: str, group: str, sent: int) -> int:
        assert self.bootstrap is not None
        until = time.monotonic() + self.commit_wait_s
        while True:
            try:
                total = committed_total(self.bootstrap, group, topic, self.partitions)
            except Exception as exc:
                self.notes.append(f"committed offsets unreadable: {exc}")
                return -1
            if total >= sent or time.monotonic() > until:
                return max(0, sent - total)
            time.sleep(0.5)
