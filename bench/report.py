"""Markdown report and PNG plots from the benchmark JSON in bench/out/.

Reads (each optional; a missing one gives a line saying how to produce it):
  bench/out/sweep.json         bench/sweep.py: throughput/latency over CONCURRENT_REQUESTS and model latency
  bench/out/throughput.json    bench/throughput.py: service vs naive loop at L=200 ms and L=0, targets
  bench/out/ollama_slots.json  bench/ollama_slots.py: slot occupancy, cache-hit latency
  bench/out/ollama_real.json   bench/ollama_real.py: service vs naive loop against a real Ollama (bench/report_real.py)
  bench/out/peers.json         bench/peers.py: the service vs Faust-streaming and Quix Streams (bench/report_peers.py)
  bench/out/faults.json        bench/faults/run.py: the fault table
  bench/out/soak.json          bench/soak.py: the soak run
  bench/out/accuracy.json      bench/accuracy.py --json: parser accuracy on tests/samples
  bench/out/ocr_speed.json     bench/ocr_speed.py --json: OCR seconds by page type, current vs before the speed work
Writes docs/BENCHMARKS.md and docs/bench/*.png (matplotlib, Agg backend). Every figure is a ratio against a
baseline measured in the same run, because the machine (2 cores, shared) drifts between runs.

Usage: python -m bench.report [--out-dir bench/out] [--doc docs/BENCHMARKS.md] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.report_peers import peers_section  # noqa: E402
from bench.report_real import real_ollama_headline, real_ollama_section  # noqa: E402

PRODUCE = {
    "sweep": "`.venv/bin/python -m bench.sweep --quick`",
    "throughput": "`.venv/bin/python -m bench.throughput --quick`",
    "ollama_slots": "`.venv/bin/python -m bench.ollama_slots --quick`",
    "faults": "`.venv/bin/python -m bench.faults.run` (or `python -m bench.run_all --full`)",
    "soak": "`.venv/bin/python -m bench.soak` (or `python -m bench.run_all --full`)",
    "accuracy": "`.venv/bin/python -m bench.accuracy --json bench/out/accuracy.json`",
    "ocr_speed": "`.venv/bin/python -m bench.ocr_speed --json bench/out/ocr_speed.json`",
}


# ---------------------------------------------------------------------------------------------- helpers
def load(out_dir: Path, name: str) -> dict | None:
    path = out_dir / f"{name}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def num(value: Any, fmt: str = ".1f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:{fmt}}{suffix}"
    return str(value)


def pct(value: Any) -> str:
    return num(value * 100 if isinstance(value, (int, float)) else value, ".0f", " %")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_line(data: dict) -> str:
    m = data.get("machine") or {}
    parts = [m.get("date")]
    if m.get("loadavg_1m") is not None:
        parts.append(f"load average {m['loadavg_1m']:.1f}")
    if data.get("params", {}).get("quick"):
        parts.append("--quick")
    return "; ".join(str(p) for p in parts if p)


def missing(name: str) -> str:
    return f"_No `bench/out/{name}.json`: run {PRODUCE[name]}._"


# ---------------------------------------------------------------------------------------------- plots
def plot_concurrency(sweep: dict, path: Path) -> None:
    cs = sweep["concurrency_sweep"]
    svc = cs["service"]
    xs = [p["concurrency"] for p in svc]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(xs, [p["rps"] for p in svc], "o-", label="service", color="tab:blue")
    ax.axhline(cs["naive"]["rps"], color="tab:red", linestyle="-", label="naive loop")
    bound = svc[0].get("bound_rps")
    if bound:
        ax.axhline(bound, color="grey", linestyle="--", label=f"P/L bound ({bound:.0f} req/s)")
        ax.plot(xs, [p["c_bound_rps"] for p in svc], ":", color="grey", label="min(C, P)/L")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("CONCURRENT_REQUESTS")
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Throughput vs concurrency (L={cs['latency_ms']} ms, P={svc[0]['parallel']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_latency(sweep: dict, path: Path) -> None:
    ls = sweep["latency_sweep"]
    svc, naive = ls["service"], ls["naive"]
    labels = [f"{p['latency_ms']}" for p in svc]
    xs = list(range(len(svc)))
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(xs, [p["rps"] for p in svc], "o-", label=f"service (C={ls['concurrency']})", color="tab:blue")
    ax.plot(xs, [p["rps"] for p in naive], "s-", label="naive loop", color="tab:red")
    bx = [x for x, p in zip(xs, svc, strict=False) if p.get("bound_rps")]
    ax.plot(bx, [svc[x]["bound_rps"] for x in bx], "--", color="grey", label="P/L bound")
    for x, s, _n in zip(xs, svc, naive, strict=False):
        if s.get("vs_naive"):
            ax.annotate(f"{s['vs_naive']:.1f}×", (x, s["rps"]), textcoords="offset points", xytext=(4, 6),
                        fontsize=8, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xticks(xs, labels)
    ax.set_xlabel("model latency L, ms (stand-in, P slots)")
    ax.set_ylabel("requests/s (log)")
    ax.set_title(f"Throughput vs model latency (P={svc[0]['parallel']}); labels: × naive")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_percentiles(sweep: dict, path: Path) -> None:
    cs, ls = sweep["concurrency_sweep"], sweep["latency_sweep"]
    groups = [(f"naive L={cs['latency_ms']:d}", cs["naive"])]
    groups += [(f"C={p['concurrency']}", p) for p in cs["service"]]
    groups2 = []
    for s, n in zip(ls["service"], ls["naive"], strict=False):
        groups2 += [(f"naive\nL={n['latency_ms']}", n), (f"svc\nL={s['latency_ms']}", s)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), dpi=110, gridspec_kw={"width_ratios": [len(groups), len(groups2)]})
    for ax, data, title in ((axes[0], groups, f"by CONCURRENT_REQUESTS (L={cs['latency_ms']} ms)"),
                            (axes[1], groups2, f"by model latency (C={ls['concurrency']})")):
        width = 0.27
        for i, (q, color) in enumerate((("p50_ms", "tab:green"), ("p95_ms", "tab:orange"), ("p99_ms", "tab:red"))):
            vals = [p.get(q) or 0.0 for _, p in data]
            ax.bar([x + (i - 1) * width for x in range(len(data))], vals, width, label=q.replace("_ms", ""),
                   color=color)
        ax.set_xticks(range(len(data)), [label for label, _ in data], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("end-to-end latency, ms")
    fig.suptitle("Latency percentiles per point (answer append time − request produce time; a burst, so "
                 "queueing included)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- sections
def sweep_section(sweep: dict | None, img_rel: str) -> list[str]:
    out = ["## Throughput and latency sweep (`bench/sweep.py`)", ""]
    if sweep is None:
        return [*out, missing("sweep"), ""]
    cs, ls = sweep["concurrency_sweep"], sweep["latency_sweep"]
    out += [f"Run: {run_line(sweep)}. One broker and one stand-in model server (P slots, fixed latency L) for "
            "the whole sweep; each point is a burst of unique prompts on fresh topics (no cache). × naive is "
            "against the naive loop at the same L in the same run; × P/L against the model-bound ceiling. "
            "Latencies are those of a burst (queueing behind the backlog included) and the burst size differs per "
            "point (column requests), so compare them between points with care.", ""]
    header = ["point", "requests", "req/s", "× naive", "× P/L", "× min(C,P)/L", "p50 ms", "p95 ms", "p99 ms",
              "peak RSS MB"]

    def row(label: str, p: dict) -> list:
        return [label, f"{p['answered']}/{p['requests']}", num(p["rps"]), num(p["vs_naive"], ".2f"),
                num(p["vs_bound"], ".2f"), num(p.get("vs_c_bound"), ".2f"), num(p["p50_ms"], ".0f"),
                num(p["p95_ms"], ".0f"), num(p["p99_ms"], ".0f"), num(p["peak_rss_mb"], ".0f")]

    out += [f"### (a) CONCURRENT_REQUESTS at L={cs['latency_ms']} ms, P={cs['service'][0]['parallel']}", ""]
    out += [table(header, [row(f"naive loop (L={cs['latency_ms']})", cs["naive"])]
                  + [row(f"service C={p['concurrency']}", p) for p in cs["service"]]), ""]
    out += [f"![throughput vs concurrency]({img_rel}/throughput_vs_concurrency.png)", ""]
    out += [f"### (b) model latency L at CONCURRENT_REQUESTS={ls['concurrency']}", ""]
    rows = []
    for s, n in zip(ls["service"], ls["naive"], strict=False):
        rows += [row(f"naive loop L={n['latency_ms']}", n), row(f"service L={s['latency_ms']}", s)]
    out += [table(header, rows), ""]
    out += [f"![throughput vs model latency]({img_rel}/throughput_vs_latency.png)", ""]
    out += [f"![latency percentiles]({img_rel}/latency_percentiles.png)", ""]
    for w in sweep.get("warnings") or []:
        out.append(f"- WARN {w}")
    return [*out, ""]


def throughput_section(tp: dict | None) -> list[str]:
    out = ["## Throughput against the naive loop, with targets (`bench/throughput.py`)", ""]
    if tp is None:
        return [*out, missing("throughput"), ""]
    bound = tp.get("bound_rps")
    p = tp.get("params", {})
    out += [f"Run: {run_line(tp)}. L={num(p.get('latency', 0) * 1000, '.0f')} ms, P={p.get('parallel')} → "
            f"P/L = {num(bound)} req/s, {p.get('partitions')} partitions, "
            f"CONCURRENT_REQUESTS={p.get('concurrency')}.", ""]
    res = tp["results"]
    rows = []
    for name, r in res.items():
        naive = res.get("naive@0" if name.endswith("@0") else "naive@L", {}).get("rps")
        rows.append([name, f"{r['answered']}/{r['requests']}", num(r["rps"]), num(r["rps"] / naive if naive else None, ".2f"),
                     num(r["rps"] / bound if bound and name.endswith("@L") else None, ".2f"), num(r["p50_ms"], ".0f"),
                     num((r.get("extra") or {}).get("p95_ms"), ".0f"), num(r["p99_ms"], ".0f"),
                     num(r["peak_rss_mb"] or None, ".0f")])
    out += [table(["scenario", "answered", "req/s", "× naive", "× P/L", "p50 ms", "p95 ms", "p99 ms", "peak RSS MB"],
                  rows), ""]
    out += [f"- {'PASS' if v['pass'] else '**FAIL**'} `{v['target']}`: {num(v['value'], '.2f')}"
            for v in tp.get("verdicts", [])]
    return [*out, ""]


def slots_section(sl: dict | None) -> list[str]:
    out = ["## Model-server slots and cache hits (`bench/ollama_slots.py`)", ""]
    if sl is None:
        return [*out, missing("ollama_slots"), ""]
    p = sl.get("params", {})
    out += [f"Run: {run_line(sl)}. P={p.get('parallel')}, L={num(p.get('latency', 0) * 1000, '.0f')} ms, "
            f"CONCURRENT_REQUESTS={p.get('concurrency')}.", ""]
    rows = [[s["scenario"], s["max_in_flight_setting"] or "none", f"{s['answered_ok']}/{s['requests']}",
             pct(s["occupancy"]), s["max_generating"], s["max_in_flight"], s["max_waiting"]] for s in sl["slots"]]
    out += [table(["scenario", "OLLAMA_MAX_IN_FLIGHT", "ok", "slot occupancy", "max generating", "max in flight",
                   "max waiting"], rows), ""]
    c = sl.get("cache") or {}
    if c:
        echo = max(c.get("echo_p50_ms") or 0, 0.5)
        out += [f"Cache hits ({c.get('answered')}/{c.get('hits')}, one every {c.get('interval_s')} s): p50 "
                f"{num(c.get('hit_p50_ms'), '.0f')} ms, p99 {num(c.get('hit_p99_ms'), '.0f')} ms; echo-loop "
                f"baseline (same broker, same run) p50 {num(c.get('echo_p50_ms'), '.0f')} ms → hit p50 = "
                f"{num((c.get('hit_p50_ms') or 0) / echo, '.1f')} × the echo loop.", ""]
    out += [f"- {'PASS' if v['pass'] else '**FAIL**'} `{v['target']}`: "
            f"{pct(v['value']) if isinstance(v['value'], float) and v['value'] <= 1.5 else v['value']}"
            for v in sl.get("verdicts", [])]
    return [*out, ""]


FAULT_COLUMNS = ["fault", "guarantee", "sent", "answered (ok/error)", "lost", "dup (read_committed)", "DLQ", "faults",
                 "recover first", "recover all", "uncommitted", "wall"]


def secs(v: Any) -> str:
    return num(v, ".1f", " s")


def faults_section(fj: dict | None) -> list[str]:
    out = ["## Faults (`bench/faults/run.py`)", ""]
    if fj is None:
        return [*out, missing("faults"), ""]
    runs = fj.get("runs") or []
    meta = {k: v for k, v in fj.items() if k != "runs" and not isinstance(v, (dict, list))}
    if meta:
        out += ["Run: " + "; ".join(f"{k} {v}" for k, v in meta.items()) + ".", ""]
    rows = []
    for r in runs:
        faults = r.get("faults")
        rows.append([r.get("kind"), r.get("guarantee"), r.get("sent"),
                     f"{r.get('answered')} ({r.get('answered_ok')}/{r.get('answered_error')})",
                     ("**{}**".format(r.get("lost"))) if r.get("lost") else r.get("lost"),
                     ("**{}**".format(r.get("duplicates"))) if r.get("eos_duplicates") else r.get("duplicates"),
                     r.get("dlq_count"), len(faults) if isinstance(faults, list) else faults,
                     secs(r.get("recover_first_s")), secs(r.get("recover_all_s")), r.get("uncommitted"),
                     secs(r.get("wall_s"))])
    out += [table(FAULT_COLUMNS, rows), ""]
    notes = [f"- {r.get('kind')}/{r.get('guarantee')}: {'; '.join(map(str, r.get('notes') or []))}"
             for r in runs if r.get("notes")]
    return out + notes + [""]


def generic_section(title: str, name: str, data: dict | None) -> list[str]:
    """A JSON of unknown shape (another engineer's script): scalars as a key/value table, lists of flat
    dicts as tables."""
    out = [f"## {title}", ""]
    if data is None:
        return [*out, missing(name), ""]

    def flat(prefix: str, d: dict, rows: list) -> None:
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                flat(f"{key}.", v, rows)
            elif not isinstance(v, list):
                rows.append([key, num(v, ".4g") if isinstance(v, float) else v])

    rows: list = []
    flat("", {k: v for k, v in data.items() if k != "params"}, rows)
    if rows:
        out += [table(["figure", "value"], rows), ""]
    for k, v in data.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            cols = [c for c in v[0] if not isinstance(v[0][c], (dict, list))]
            shown = v[:20]
            out += [f"`{k}`" + (f" (first 20 of {len(v)})" if len(v) > 20 else "") + ":", "",
                    table(cols, [[num(x.get(c), ".4g") if isinstance(x.get(c), float) else x.get(c) for c in cols]
                                 for x in shown]), ""]
    return out


def quality_section(acc: dict | None, ocr: dict | None) -> list[str]:
    out = ["## OCR speed and parser accuracy (`bench/ocr_speed.py`, `bench/accuracy.py`)", ""]
    if ocr is None:
        out += [missing("ocr_speed"), ""]
    else:
        rows = [[r["page"], r["size"], num(r["current"]["cpu_s"], ".2f"), num(r["before"]["cpu_s"], ".2f"),
                 num(r["current"]["cpu_s"] / r["before"]["cpu_s"], ".2f"),
                 num(r["current"]["wall_s"] / r["before"]["wall_s"], ".2f"),
                 num(r["current"].get("line_recall"), ".2f"), num(r["before"].get("line_recall"), ".2f")]
                for r in ocr["pages"]]
        out += [f"Median of {ocr.get('reps')} runs per page, the current engine and the one before the speed work "
                f"alternating in one process (load average {num(ocr.get('load_average'), '.1f')}). Target: a page or "
                f"label in <= {ocr.get('target_page_s')} s of OCR on 2 cores. See docs/ocr-speed.md.", "",
                table(["page", "size", "CPU s now", "CPU s before", "CPU now/before", "wall now/before",
                       "lines read now", "lines read before"], rows), ""]
        rss = ocr.get("concurrent_rss") or {}
        if rss:
            out += [f"5 photos (2 of them 12 MP) OCR'd from 5 threads at once: peak RSS "
                    f"{num(rss.get('peak_rss_mb'), '.0f')} MB (after decode + engine load "
                    f"{num(rss.get('loaded_rss_mb'), '.0f')} MB), wall {num(rss.get('wall_s'), '.1f')} s.", ""]
    if acc is None:
        out += [missing("accuracy"), ""]
    else:
        names = {"nutrition_fields_exact": "nutrition fields read exactly", "recipe_titles": "recipe titles",
                 "ingredient_lines_matched": "ingredient lines matched", "instruction_steps_matched":
                 "instruction steps matched"}
        rows = [[names.get(k, k), f"{v['ok']}/{v['of']}", pct(v["ratio"])] for k, v in acc["totals"].items()]
        out += [f"Parser accuracy on `tests/samples` (OCR: {acc.get('ocr')}, line match ratio ≥ "
                f"{acc.get('match_ratio')}):", "", table(["figure", "matched", "%"], rows), ""]
        out += ["<details><summary>per photo</summary>", "", *[f"- `{line}`" for line in acc.get("photos", [])], "",
                "</details>", ""]
    return out


# ---------------------------------------------------------------------------------------------- headline
def headline(sweep, tp, sl, fj, ocr, acc, soak=None) -> list[str]:
    lines = []
    if sweep:
        cs, ls = sweep["concurrency_sweep"], sweep["latency_sweep"]
        c8 = next((p for p in ls["service"] if p["latency_ms"] == cs["latency_ms"]), None)
        if c8:
            lines.append(f"Service vs the naive loop at L={c8['latency_ms']} ms, P={c8['parallel']}, "
                         f"CONCURRENT_REQUESTS={c8['concurrency']}: **{num(c8['vs_naive'], '.1f')} ×** "
                         f"({num(c8['rps'])} vs {num(cs['naive']['rps'])} req/s), "
                         f"**{num(c8['vs_bound'], '.2f')} × P/L** (sweep)")
        best = max(cs["service"], key=lambda p: p["rps"])
        per_c = ", ".join("C={} {}×".format(p["concurrency"], num(p["vs_naive"], ".1f")) for p in cs["service"])
        lines.append(f"Concurrency sweep at L={cs['latency_ms']} ms: {per_c} the naive loop; best "
                     f"{num(best['vs_bound'], '.2f')} × P/L at C={best['concurrency']}")
        per_l = ", ".join(f"L={p['latency_ms']} ms {num(p['vs_naive'], '.1f')}×" for p in ls["service"])
        lines.append(f"Model-latency sweep (C={ls['concurrency']:d}): {per_l} the naive loop")
    if tp:
        r = tp.get("ratios", {})
        lines.append(f"throughput.py: service@L {num(r.get('service_L_vs_naive_L'), '.2f')} × naive@L, "
                     f"{num(r.get('service_L_vs_bound'), '.2f')} × P/L; service@0 "
                     f"{num(r.get('service_0_vs_naive_0'), '.2f')} × naive@0")
    if sl:
        cap = sl["slots"][0]
        c = sl.get("cache") or {}
        lines.append(f"Model slots busy {pct(cap['occupancy'])} of the time (capped, P+{sl['params'].get('queue')}); "
                     f"cache-hit p50 {num(c.get('hit_p50_ms'), '.0f')} ms = "
                     f"{num((c.get('hit_p50_ms') or 0) / max(c.get('echo_p50_ms') or 0, 0.5), '.1f')} × an echo loop")
    if fj:
        runs = fj.get("runs") or []
        lines.append(f"Faults: {len(runs)} runs, {sum(r.get('lost') or 0 for r in runs)} lost, "
                     f"{sum(r.get('eos_duplicates') or 0 for r in runs)} exactly-once duplicates")
    if soak:
        rss = (soak.get("figures") or {}).get("rss_mb") or {}
        v = soak.get("verdict") or {}
        lines.append(f"Soak ({num(soak.get('minutes'), '.0f')} min at {num(soak.get('rate'), '.0f')} req/s): "
                     f"{soak.get('answered')}/{soak.get('sent')} answered, RSS {num(rss.get('after_warmup'), '.0f')} → "
                     f"{num(rss.get('end'), '.0f')} MB after warm-up ({num(v.get('rss_growth_pct'), '.1f')} %), "
                     f"threads/fds {'flat' if v.get('threads_ok') and v.get('fds_ok') else '**growing**'}")
    if ocr:
        scan = next((r for r in ocr["pages"] if r["type"] == "page scan"), None)
        if scan:
            lines.append(f"OCR of a cookbook page scan: {num(scan['current']['cpu_s'], '.2f')} CPU s = "
                         f"{num(scan['current']['cpu_s'] / scan['before']['cpu_s'], '.2f')} × before the speed work")
    if acc:
        t = acc["totals"]
        lines.append(f"Parsers: nutrition fields {pct(t['nutrition_fields_exact']['ratio'])} exact, ingredient lines "
                     f"{pct(t['ingredient_lines_matched']['ratio'])}, steps {pct(t['instruction_steps_matched']['ratio'])}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--note", default="", help="a line added under the title (e.g. how the run was made)")
    args = parser.parse_args()
    img_dir = args.doc.parent / "bench"
    img_dir.mkdir(parents=True, exist_ok=True)
    img_rel = os.path.relpath(img_dir, args.doc.parent)
    data = {n: load(args.out_dir, n) for n in PRODUCE}
    sweep = data["sweep"]
    if sweep is not None:
        plot_concurrency(sweep, img_dir / "throughput_vs_concurrency.png")
        plot_latency(sweep, img_dir / "throughput_vs_latency.png")
        plot_percentiles(sweep, img_dir / "latency_percentiles.png")

    try:
        import confluent_kafka
        librdkafka = confluent_kafka.libversion()[0]
    except Exception:
        librdkafka = "?"
    load1, load5, load15 = os.getloadavg()
    heads = headline(sweep, data["throughput"], data["ollama_slots"], data["faults"], data["ocr_speed"],
                     data["accuracy"], data["soak"])
    heads += real_ollama_headline(load(args.out_dir, "ollama_real"))
    doc = ["# Benchmarks", "",
           f"Generated by `bench/report.py` on {time.strftime('%Y-%m-%d %H:%M %Z')} from `bench/out/*.json` "
           f"(`make bench` = `bench/run_all.py`). Machine: {os.cpu_count()} cores (shared), "
           f"{platform.machine()}, Python {platform.python_version()}, librdkafka {librdkafka}; load average at "
           f"report time {load1:.1f} / {load5:.1f} / {load15:.1f} (1/5/15 min); each section gives its own run's "
           "date and load.", ""]
    if args.note:
        doc += [args.note, ""]
    doc += ["The machine is small and shared, so absolute numbers drift between runs: every figure is a **ratio "
            "against a baseline measured in the same run** (the naive loop: poll one, call the model, produce, "
            "flush, commit; the model-bound ceiling P/L of the stand-in model server; an echo loop; RapidOCR's "
            "defaults). Methods: [bench/README.md](../bench/README.md).", "", "## Headline", ""]
    doc += [f"- {h}" for h in heads] or ["- (no figures yet: run `make bench`)"]
    doc += [""]
    doc += sweep_section(sweep, img_rel)
    doc += throughput_section(data["throughput"])
    doc += slots_section(data["ollama_slots"])
    doc += real_ollama_section(load(args.out_dir, "ollama_real"))
    doc += peers_section(load(args.out_dir, "peers"))
    doc += faults_section(data["faults"])
    doc += generic_section("Soak (`bench/soak.py`)", "soak", data["soak"])
    doc += quality_section(data["accuracy"], data["ocr_speed"])
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(doc).rstrip() + "\n")
    print("\n".join(f"- {h}" for h in heads))
    print(f"\nwrote {args.doc} and {img_dir}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
