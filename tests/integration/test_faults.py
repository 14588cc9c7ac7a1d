"""Short fault-injection runs for CI (testkit/faults/; the long runs are bench/faults/run.py).

Each run: the processor as a child process, the Ollama stand-in, a known set of request ids sent at a
steady rate, one fault mid-run, then every id accounted for: lost must be 0, and duplicates seen by a
read_committed consumer must be 0 under exactly-once. kill -9 and the plain SIGTERM drain are covered by
test_process_guarantees.py; these are the other faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.faults import FaultReport, FaultRun

pytestmark = [pytest.mark.broker, pytest.mark.ollama]


def _check(report: FaultReport) -> None:
    print(report.summary())
    assert report.sent > 0 and report.send_failed == 0, report.summary()
    assert report.lost == 0, report.summary()
    assert report.eos_duplicates == 0, report.summary()
    assert report.uncommitted == 0, f"request offsets left uncommitted (stuck partition): {report.summary()}"


def _run(kind: str, guarantee: str, tmp_path, bootstrap, **kwargs) -> FaultReport:
    options = dict(requests=120, rate=30.0, partitions=4, bootstrap=bootstrap, work_dir=tmp_path / kind,
                   recover_timeout_s=60.0, quiet_s=1.5, grace_s=10.0)
    options.update(kwargs)
    return FaultRun(kind, guarantee, **options).run()


def test_model_server_down_then_back(kafka_bootstrap, tmp_path):
    report = _run("model_down", "exactly_once", tmp_path, kafka_bootstrap, down_s=3.0, deadline_s=30.0)
    _check(report)
    assert report.answered_error == 0, "requests during a 3 s outage must be retried within their deadline"


def test_model_server_503_for_a_while(kafka_bootstrap, tmp_path):
    report = _run("model_503", "exactly_once", tmp_path, kafka_bootstrap, n503=15, deadline_s=30.0)
    _check(report)
    assert report.answered_error == 0 and report.faults[0].label == "15 x 503"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_broker_stopped_and_restarted(tmp_path, guarantee):
    # Own broker (never the session's), stopped and started again with its data on the same port. Under
    # exactly-once, librdkafka's send_offsets_to_transaction used to block across the restart in every run
    # (confluentinc/librdkafka#5456, #5511: it looks the group coordinator up again only on a connection state
    # change), until the hang watchdog ended the process (exit 70) and a restart fenced it. The transactional
    # producer now closes idle connections, which makes such changes happen: no process may exit any more.
    # Either way: nothing lost, nothing committed twice for read_committed readers, every offset committed.
    # librdkafka's group and producer debug lines are kept: a run that fails says why the group or the
    # producer did not recover (docs/guarantees.md).
    report = _run("broker_restart", guarantee, tmp_path, None, requests=90, broker_down_s=3.0,
                  recover_timeout_s=120.0, extra_env={"KAFKA_DEBUG": "cgrp,eos,topic", "LOG_LEVEL": "DEBUG"})
    try:
        _check(report)
        assert report.answered_error == 0, report.summary()
        assert not report.unexpected_exits, f"a processor exited (70: a transactional call hung): {report.summary()}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_group_story(report)}") from None


# What the consumer group went through, most telling first (the test's tmp dir does not outlive later runs;
# the CI log does): the processors' own warnings and transaction failures, the answers of any repeated request
# id, the transactional API's failures, then librdkafka's group lines and the broker's coordinator lines.
_CGRP_TAGS = ("SESSTMOUT", "REBALANCE", "LOST", "CGRPJOINSTATE", "JOINGROUP", "SYNCGROUP", "ASSIGNDONE",
              "REJOIN", "COMMIT", "CGRPTIMEOUT", "COORDSET", "COORDCLEAR", "HEARTBEAT",
              "IDEMPSTATE", "GETPID", "PIDBROKER")  # the producer's
_TXN_TAGS = ("TXNERR", "TXNSTATE", "ENDTXN", "ADDOFFSETS", "TXNOFFSETCOMMIT", "FENCED", "TXNAPI", "APIRESULT")
_TXN_TROUBLE = ("Abort", "abort", "rror", "fail", "Fatal", "timed out", "TIMED_OUT", "Conflict", "retry")


def _group_story(report: FaultReport, limit: int = 60) -> str:
    work_dir = Path(report.work_dir)
    repeated = set(report.duplicate_sample)
    own, answers, txn, cgrp = [], [], [], []
    for path in sorted(work_dir.glob("processor-*.log")):
        for entry in _json_lines(path):
            msg = str(entry.get("msg", ""))
            line = f"{path.stem} {entry.get('ts', '')[11:23]} {msg[:220]}"
            if entry.get("logger") == "librdkafka":
                if msg.startswith(_TXN_TAGS) and any(w in msg for w in _TXN_TROUBLE) \
                        and not any(w in msg for w in ("NO_ERROR", "Success")):
                    txn.append(line)
                elif msg.startswith(_CGRP_TAGS):
                    cgrp.append(line)
            elif entry.get("request_id") in repeated:
                answers.append(f"{line} [{entry['request_id']}]")
            elif entry.get("level") in ("WARNING", "ERROR", "CRITICAL") or msg.startswith("partitions "):
                detail = f" [{entry.get('call', '')}: {str(entry.get('kafka_error'))[:160]}]" if "kafka_error" in entry else ""
                own.append(line + detail)
    broker_log = work_dir / "kafka" / "logs" / "server.log"
    broker = [f"broker {line[12:24]} {line[25:260]}" for line in broker_log.read_text(errors="replace").splitlines()
              if "GroupCoordinator" in line and "-g" in line and "fault-reader" not in line] if broker_log.exists() else []
    sections = [("processors' warnings", own), ("answers of repeated ids", answers),
                ("transactions (not the routine commits)", txn),
                ("group", cgrp), ("broker's group coordinator", broker)]
    return "group story:\n" + "\n".join(f"-- {title}:\n" + "\n".join(lines[-limit:]) for title, lines in sections if lines)


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_second_processor_joins_mid_run(kafka_bootstrap, tmp_path, guarantee):
    # The newcomer takes several seconds to start and join: requests keep coming for 12 s, and at 0.25 s per
    # model call (16/s through the stand-in's 4 slots) against 20/s a queue builds up, so the first
    # processor has work in flight when it is revoked. (With the default 120 requests at 30/s everything
    # was answered before the newcomer joined, and the test passed without a mid-flight revoke.)
    report = _run("rebalance", guarantee, tmp_path, kafka_bootstrap, requests=240, rate=20.0, latency_s=0.25)
    _check(report)
    logs = {path.name: _json_lines(path) for path in Path(report.work_dir).glob("processor-*.log")}
    revokes = [e for e in logs["processor-0-tx0.log"] if e.get("msg") == "partitions revoked"]
    assert revokes, "the first processor was never revoked: no rebalance happened"
    assert max(e["in_flight_at_revoke"] for e in revokes) > 0, f"no revoke came with work in flight: {revokes}"
    newcomer = [entries for name, entries in logs.items() if name.endswith("-tx1.log")]
    answered = sum(1 for entries in newcomer for e in entries if e.get("msg") == "request answered")
    assert answered > 0, "the processor that joined answered nothing"


def _json_lines(path: Path) -> list[dict]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a library's own line (RapidOCR, librdkafka before logging is set up)
    return entries


def test_sigterm_during_load_then_restart(kafka_bootstrap, tmp_path):
    report = _run("sigterm", "exactly_once", tmp_path, kafka_bootstrap)
    _check(report)
    assert not report.notes, report.notes  # exit code 0 within the grace period
