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

`python -m testkit.faults KIND` runs one fault. Modules: kinds (the fault kinds and their injection), processes (starting, supervising, killing the
processors), sending / reading (the requests in, the answers and committed offsets out), report (the
account of every id), run (one run, start to end).
"""

from .kinds import KINDS, FaultKind
from .reading import TopicLog, committed_total
from .report import FaultReport, FaultWindow, markdown_table, write_json
from .run import GUARANTEES, MODEL, FaultRun
from .sending import Sender

__all__ = ["GUARANTEES", "KINDS", "MODEL", "FaultKind", "FaultReport", "FaultRun", "FaultWindow", "Sender", "TopicLog",
           "committed_total", "markdown_table", "write_json"]
