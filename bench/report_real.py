"""The real-Ollama section of docs/BENCHMARKS.md, from bench/out/ollama_real.json (bench/ollama_real.py)."""

from __future__ import annotations

from typing import Any

PRODUCE = "`.venv/bin/python -m bench.ollama_real --quick`"


def _row(name: str, r: dict[str, Any], naive: dict[str, Any], direct: dict[str, Any]) -> list[str]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "–"

    return [name, f"{r['answered'] - r['errors']}/{r['requests']}", f"{r['rps']:.2f}", f"{r['tokens_per_s']:.1f}",
            ratio(r["tokens_per_s"], naive["tokens_per_s"]), ratio(r["tokens_per_s"], direct["tokens_per_s"]),
            f"{r['mean_tokens']:.0f}", f"{r['occupancy'] * 100:.0f} %", str(r["max_in_flight"]),
            f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}"]


def real_ollama_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Against a real Ollama (`bench/ollama_real.py`)", ""]
    if data is None:
        return [*out, f"_No `bench/out/ollama_real.json`: run {PRODUCE}._", ""]
    p, m = data.get("params", {}), data.get("machine", {})
    results = data["results"]
    naive, direct = results["naive"], results["direct"]
    out += [f"Run: {m.get('date')}; load average {m.get('loadavg_1m', 0):.1f}"
            f"{'; --quick' if p.get('quick') else ''}. Ollama 0.17.4 built locally (deploy/local-ollama), model "
            f"`{data.get('model')}` (Gemma 3 270M Q4_K_M, CPU), OLLAMA_NUM_PARALLEL={p.get('parallel')}, service "
            f"CONCURRENT_REQUESTS={p.get('concurrency')}. Beside the stand-in figures above: here the model cost "
            "is real generation on this machine's CPU, so tokens/s is the fair unit (answers differ in length). "
            "Slot occupancy = ∫ min(in flight, P) dt / (P × window), from a recording proxy in front of the server.",
            ""]
    header = ["scenario", "ok", "req/s", "tokens/s", "× naive", "× direct", "tokens/answer", "slot occupancy",
              "max in flight", "p50 ms", "p99 ms"]
    rows = [_row(name, r, naive, direct) for name, r in results.items()]
    out += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out += [""]
    out += [f"- {'PASS' if v['pass'] else '**FAIL**'} `{v['target']}`: {v['value']}" for v in data.get("verdicts", [])]
    return [*out, ""]


def real_ollama_headline(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    r = data["results"]
    svc, naive, direct = r["service"], r["naive"], r["direct"]
    if not (naive["tokens_per_s"] and direct["tokens_per_s"]):
        return []
    return [f"Real Ollama (gemma3-tiny on CPU, P={data['params']['parallel']}): service "
            f"{svc['tokens_per_s'] / direct['tokens_per_s']:.2f} × the server's own ceiling (direct calls), "
            f"{svc['tokens_per_s'] / naive['tokens_per_s']:.2f} × the naive loop in tokens/s, slots busy "
            f"{svc['occupancy'] * 100:.0f} % (naive loop {naive['occupancy'] * 100:.0f} %)"]
