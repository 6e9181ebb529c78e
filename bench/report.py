"""The bench's results: out/bench.json (each stream's freshness fields folded in), the PNG
beside it, and the lines and table it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(result: dict[str, Any], path: Path) -> Path:
    """Writes out/bench.json at `path` (each stream's freshness fields folded in) and the PNG
    beside it; returns the PNG's path."""
    fold_freshness(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return plot(result, path.with_suffix(".png"))


def stream_line(stream: str, r: dict[str, Any]) -> str:
    return (
        f"{stream}: producer {r['producer_eps']:,}/s, ingest {r['ingest_eps']:,}/s = {r['ingest_vs_baseline']}x "
        f"the baseline's {r['baseline_eps']:,}/s, aggregate {r['aggregate_s_per_million']} s per million, "
        f"history ratio {r['aggregate_history_ratio']}"
    )


def freshness_line(f: dict[str, Any], streams: list[str]) -> str:
    parts = [f"{s} p50 {f[s]['p50_s']}s p95 {f[s]['p95_s']}s" for s in streams]
    return f"freshness ({f['mode']}): " + "; ".join(parts)


def fold_freshness(result: dict[str, Any]) -> None:
    """Each stream's freshness fields: the continuous driver's (the low-latency default) when
    measured, and every measured mode's under its own name."""
    for mode, measured in result["freshness"].items():
        for stream, r in result["streams"].items():
            if stream in measured:
                r[f"freshness_{mode}_p50_s"] = measured[stream]["p50_s"]
                r[f"freshness_{mode}_p95_s"] = measured[stream]["p95_s"]
    for r in result["streams"].values():
        for mode in ("continuous", "cron"):
            if f"freshness_{mode}_p95_s" in r:
                r["freshness_mode"] = mode
                r["freshness_p50_s"] = r[f"freshness_{mode}_p50_s"]
                r["freshness_p95_s"] = r[f"freshness_{mode}_p95_s"]
                break


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    rows = [
        f"machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; every server on it",
        "",
        "| stream | events | producer/s | baseline/s | ingest/s | ingest vs baseline | aggregate s/M "
        "| history ratio | fresh p50/p95 continuous | fresh p50/p95 cron | peak RSS ingest/aggregate MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stream, r in result["streams"].items():
        rss = r["peak_rss_mib"]
        rows.append(
            f"| {stream} | {r['events']:,} | {r['producer_eps']:,} | {r['baseline_eps']:,} | {r['ingest_eps']:,} "
            f"| {r['ingest_vs_baseline']}x | {r['aggregate_s_per_million']} | {r['aggregate_history_ratio']} "
            f"| {pair(r, 'continuous')} | {pair(r, 'cron')} | {rss['ingest']:,} / {rss['aggregate']:,} |"
        )
    stack_total = sum(result["stack_rss_mib"].values())
    peaks = [sum(f.get("stack_peak_rss_mib", {}).values()) for f in result["freshness"].values()]
    rows.append("")
    rows.append(
        f"local stack RSS: {stack_total:,} MiB at the end"
        + (f", {max(peaks):,} MiB at most under steady load" if peaks and max(peaks) else "")
    )
    for f in result["freshness"].values():
        rows.append(f"{f['mode']} driver peak RSS: {f['peak_driver_rss_mib']:,} MiB")
        if f.get("steady_cores"):
            used = sorted(f["steady_cores"].items(), key=lambda kv: -kv[1])
            rows.append(
                f"{f['mode']} cores under steady load: {sum(c for _, c in used):.2f} of {result['machine']['cores']} "
                f"({', '.join(f'{name} {c:.2f}' for name, c in used)})"
            )
    return "\n".join(rows)


def pair(r: dict[str, Any], mode: str) -> str:
    if f"freshness_{mode}_p95_s" not in r:
        return "-"
    return f"{r[f'freshness_{mode}_p50_s']} / {r[f'freshness_{mode}_p95_s']} s"


def plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (throughput, freshness, memory) = plt.subplots(3, 1, figsize=(11, 13))
    stages = sorted({stage for *_, stage, _ in result["timeline"]})
    palette = plt.get_cmap("tab10")
    colours = {stage: palette(i) for i, stage in enumerate(stages)}
    for start, end, stream, stage, eps in result["timeline"]:
        throughput.plot([start, end], [eps, eps], color=colours[stage], linewidth=4)
        throughput.annotate(f"{stream} {stage}", (start, eps), fontsize=7, xytext=(0, 4), textcoords="offset points")
    throughput.set_yscale("log")
    throughput.set(title="Throughput of each stage over the run", xlabel="seconds into the bench", ylabel="events/s")

    for mode, f in result["freshness"].items():
        for stream in result["streams"]:
            series = f.get(stream, {}).get("series", [])
            if series:
                freshness.plot([t for t, _ in series], [a for _, a in series], label=f"{stream} ({mode})")
    freshness.set(title="Freshness under steady load, sampled every second", xlabel="seconds", ylabel="age (s)")
    freshness.legend(fontsize=7)

    processes: dict[str, float] = {}
    for stream, r in result["streams"].items():
        for process, mib in r["peak_rss_mib"].items():
            processes[f"{stream} {process}"] = mib
    for mode, f in result["freshness"].items():
        processes[f"{mode} driver"] = f["peak_driver_rss_mib"]
        for server, mib in f.get("stack_peak_rss_mib", {}).items():
            processes[server] = max(mib, processes.get(server, 0))
    memory.barh(list(processes), list(processes.values()))
    memory.set(title="Peak RSS per process", xlabel="MiB")
    memory.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
