"""What a fault run found: every sent id accounted for, recovery times, and the table of several runs."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Record = tuple[float, str, dict[str, Any] | None]  # (arrival, key, value) of one answer


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

    def to_dict(self) -> dict[str, Any]:
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


def write_json(path: Path, reports: list[FaultReport], **meta: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "runs": [r.to_dict() for r in reports]}, indent=2))
    return path



@dataclass
class RunFacts:
    """What the run observed, apart from the answers themselves."""

    kind: str
    guarantee: str
    sent: set[str]  # ids whose request the broker acknowledged
    send_failed: int
    windows: list[FaultWindow]
    t0: float  # monotonic start of the run
    wall_s: float
    dlq_count: int
    recover_all_s: float | None
    uncommitted: int
    unexpected_exits: list[str]
    notes: list[str]
    work_dir: Path


def account(facts: RunFacts, records: list[Record]) -> FaultReport:
    """The report of one run from the answers a read_committed reader saw; written to work_dir/report.json."""
    by_key: dict[str, list[dict[str, Any] | None]] = {}
    for _, key, value in records:
        by_key.setdefault(key, []).append(value)
    answered = [k for k in facts.sent if k in by_key]
    lost = sorted(facts.sent - set(by_key))
    statuses = {k: (by_key[k][0] or {}).get("status") for k in answered}
    ok = sum(1 for s in statuses.values() if s == "ok")
    codes = Counter(str(((by_key[k][0] or {}).get("error") or {}).get("code")) for k, s in statuses.items()
                    if s != "ok")
    duplicates = sorted(k for k in answered if len(by_key[k]) > 1)
    for window in facts.windows:
        first = next((a for a, _, _ in records if a > facts.t0 + window.end), None)
        window.recover_first_s = None if first is None else round(first - facts.t0 - window.end, 2)
    recover_first = [w.recover_first_s for w in facts.windows if w.recover_first_s is not None]
    report = FaultReport(
        kind=facts.kind, guarantee=facts.guarantee, sent=len(facts.sent), answered=len(answered), answered_ok=ok,
        answered_error=len(answered) - ok, lost=len(lost), duplicates=len(duplicates), dlq_count=facts.dlq_count,
        faults=facts.windows, recover_first_s=max(recover_first) if recover_first else None,
        recover_all_s=None if facts.recover_all_s is None else round(facts.recover_all_s, 2),
        wall_s=round(facts.wall_s, 1), uncommitted=facts.uncommitted, error_codes=dict(codes),
        lost_sample=lost[:10], duplicate_sample=duplicates[:10], send_failed=facts.send_failed,
        unexpected_exits=facts.unexpected_exits, notes=facts.notes, work_dir=str(facts.work_dir))
    (facts.work_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report
