"""Soak run (not in CI): the processor as a child process at a steady request rate for --minutes N against
the Ollama stand-in; samples its RSS, thread count and open file descriptors every --interval seconds with
psutil; prints start/end/max and the growth slope per minute after warm-up, and a verdict:
RSS growth after warm-up < --rss-growth-pct (default 10 %), threads and fds within +-2 of their
post-warm-up start. Writes bench/out/soak.json.

    python -m bench.soak --minutes 5 --rate 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import psutil

from testkit.broker import LocalBroker, create_topics
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.faults import MODEL, Sender, TopicLog
from testkit.harness import ProcessorProcess, service_env

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "bench" / "out" / "soak.json"


def slope_per_min(samples: list[dict], key: str) -> float:
    """Least-squares slope of `key` against time, per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [s["t"] / 60 for s in samples]
    ys = [s[key] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds ignored by the verdict")
    parser.add_argument("--guarantee", default="exactly_once")
    parser.add_argument("--rss-growth-pct", type=float, default=10.0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    from testkit.fakes.quiet import quiet_standin_disconnects

    quiet_standin_disconnects()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None if external else LocalBroker()
    bootstrap = external or broker.start()
    standin = OllamaStandIn(models=(MODEL,), num_parallel=4, latency_s=0.05)
    standin.start()
    topic = f"soak-{uuid.uuid4().hex[:8]}"
    env = service_env(bootstrap, topic, f"{topic}-g", OLLAMA_HOST=standin.url, OLLAMA_MODEL=MODEL,
                      OLLAMA_WARMUP="false", RESULT_CACHE_SIZE="0", PROCESSING_GUARANTEE=args.guarantee,
                      CONCURRENT_REQUESTS="8", TRANSACTIONAL_ID=f"tx-{topic}", LOG_LEVEL="WARNING")
    create_topics(bootstrap, {topic: 4, env["TEXT_RESPONSE_TOPIC"]: 4, env["PHOTO_RESPONSE_TOPIC"]: 1,
                              env["DLQ_TOPIC"]: 1})
    log_path = ROOT / "bench" / "out" / "soak-processor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    process = ProcessorProcess(env, log_path).start()
    proc = psutil.Process(process.proc.pid)
    total = int(args.minutes * 60 * args.rate)
    ids = [f"s{i:07d}" for i in range(total)]
    answers = TopicLog(bootstrap, env["TEXT_RESPONSE_TOPIC"])
    samples: list[dict] = []
    t0 = time.monotonic()
    sender = Sender(bootstrap, topic, ids, args.rate).start()
    try:
        while not sender.done.is_set():
            mem = proc.memory_info()
            samples.append({"t": round(time.monotonic() - t0, 1), "rss_mb": round(mem.rss / 2**20, 1),
                            "threads": proc.num_threads(), "fds": proc.num_fds(),
                            "answered": answers.count_keys(), "sent": sender.produced})
            print(json.dumps(samples[-1]), flush=True)
            sender.done.wait(args.interval)
        answers.wait_keys(total, 60)
        answered = answers.count_keys()
    finally:
        if process.alive():
            process.terminate(60)
        answers.close()
        standin.stop()
        if broker is not None:
            broker.close()
    steady = [s for s in samples if s["t"] >= args.warmup] or samples
    figures = {}
    for key in ("rss_mb", "threads", "fds"):
        values = [s[key] for s in samples]
        figures[key] = {"start": values[0], "after_warmup": steady[0][key], "end": values[-1], "max": max(values),
                        "slope_per_min": round(slope_per_min(steady, key), 3)}
    rss_growth = 100.0 * (steady[-1]["rss_mb"] - steady[0]["rss_mb"]) / steady[0]["rss_mb"]
    verdict = {
        "rss_growth_pct": round(rss_growth, 1),
        "rss_ok": rss_growth < args.rss_growth_pct,
        "threads_ok": max(abs(s["threads"] - steady[0]["threads"]) for s in steady) <= 2,
        "fds_ok": max(abs(s["fds"] - steady[0]["fds"]) for s in steady) <= 2,
        "all_answered": answered >= total,
    }
    result = {"minutes": args.minutes, "rate": args.rate, "guarantee": args.guarantee, "sent": total,
              "answered": answered, "figures": figures, "verdict": verdict, "samples": samples}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print()
    print("| metric | start | after warm-up | end | max | slope/min |")
    print("|---|---|---|---|---|---|")
    for key, f in figures.items():
        print(f"| {key} | {f['start']} | {f['after_warmup']} | {f['end']} | {f['max']} | {f['slope_per_min']} |")
    print(f"\nsent={total} answered={answered} verdict={verdict}\nwrote {args.out}")
    return 0 if all(v for k, v in verdict.items() if k.endswith("_ok") or k == "all_answered") else 1


if __name__ == "__main__":
    sys.exit(main())
