"""Peak RSS of the running service with 5 photos in flight (issue target: under 1.5 GB).

The service runs as a child process on a local broker with the Ollama stand-in as its model server (a
complete label is answered from OCR, so the model is not called), CONCURRENT_REQUESTS=5, and receives five 12-megapixel phone-like JPEGs at once. Its RSS is sampled
throughout; the idle RSS after start-up (engine loaded) is the baseline of the same run.

    .venv/bin/python -m bench.photo_memory [--photos 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from pathlib import Path

from bench.common import AnswerCollector, LocalBroker, Processor, Topics, machine, produce_requests, write_json
from bench.ocr_speed import synth_phone_jpeg
from testkit.fakes.ollama_server import OllamaStandIn

ROOT = Path(__file__).resolve().parents[1]

TARGET_MB = 1536.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=5)
    args = parser.parse_args()
    photo = base64.b64encode(synth_phone_jpeg(ROOT / "tests" / "samples")).decode()
    with LocalBroker.from_env() as broker, OllamaStandIn(models=("llava:7b",)) as ollama:
        topics = Topics.fresh(broker.bootstrap, "photo-mem", 1)
        env = topics.env(broker.bootstrap, CONCURRENT_REQUESTS=str(args.photos), OLLAMA_WARMUP="false",
                         OLLAMA_HOST=ollama.url, OLLAMA_MODEL="llava:7b")
        proc = Processor(env, "photo-mem").start()
        time.sleep(2.0)  # settle after start-up
        idle_mb = proc.rss.peak_bytes / 2**20 if proc.rss else 0.0
        collector = AnswerCollector(broker.bootstrap, [topics.photo])
        try:
            items = [(f"photo-{i}", json.dumps({"user_email": "bench@example.com", "prompt": "", "kind": "nutrition_label",
                                                "photo": photo}).encode()) for i in range(args.photos)]
            started = time.monotonic()
            sent = produce_requests(broker.bootstrap, topics.request, items)
            answers = collector.wait_for(sent, timeout=300)
            elapsed = time.monotonic() - started
        finally:
            collector.close()
            peak_mb = proc.stop()
    verdict = "PASS" if peak_mb < TARGET_MB else "FAIL"
    print(f"{args.photos} x 12 MP photos in flight: answered {len(answers)}/{args.photos} in {elapsed:.1f} s")
    print(f"service RSS: idle {idle_mb:.0f} MB, peak {peak_mb:.0f} MB ({peak_mb / max(idle_mb, 1):.1f}x idle)")
    print(f"{verdict}  peak RSS < {TARGET_MB:.0f} MB: {peak_mb:.0f} MB")
    write_json("photo_memory.json", {"machine": machine(), "photos": args.photos, "answered": len(answers),
                                     "idle_rss_mb": idle_mb, "peak_rss_mb": peak_mb, "target_mb": TARGET_MB,
                                     "seconds": elapsed, "pass": peak_mb < TARGET_MB})


if __name__ == "__main__":
    main()
