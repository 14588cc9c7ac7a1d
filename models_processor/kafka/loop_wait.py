"""How long the dispatcher's loop blocks when it has work in flight and nothing new to do.

A worker that finishes wakes the loop at once: the loop blocks on the queue the workers put their results
on. Two other sources cannot wake it: messages librdkafka has fetched (worth reading only while there is
room for them) and the producer's delivery reports (at-least-once: an answer's offset is done when it is
delivered). confluent-kafka cannot wait on its queues together with a Python queue, so while either may
bring something the wait is capped; with neither (the in-flight limit reached, no answer in the air) the
loop sleeps until a worker finishes or a timer may be due (deadlines, produce retries, the transaction
cadence). The earlier loop woke every 5 ms whatever happened, which cost more CPU per request the slower
the model (docs/BENCHMARKS.md, "Against Faust-streaming and Quix Streams").
"""

from __future__ import annotations

from .transactions import TXN_INTERVAL_S

# Room for more and nothing fetched: how late a request fetched meanwhile may be read.
INTAKE_WAIT_S = 0.01
# Answers awaiting their delivery report (linger.ms plus the broker's acknowledgement: a few ms).
DELIVERY_WAIT_S = 0.005
# Nothing but the workers and the timers to wait for: deadlines (2 s of grace), retries (>= 50 ms backoff),
# and how late the partitions are paused when nothing finishes (backpressure.py) or a rebalance is served.
TIMER_WAIT_S = 0.1


def wait_budget(*, room: bool, delivering: bool, transaction_pending: bool) -> float:
    """Seconds the loop may block on its workers' queue before it must look at Kafka again."""
    budget = TIMER_WAIT_S
    if room:
        budget = min(budget, INTAKE_WAIT_S)
    if delivering:
        budget = min(budget, DELIVERY_WAIT_S)
    if transaction_pending:
        budget = min(budget, TXN_INTERVAL_S)
    return budget
