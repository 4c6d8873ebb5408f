"""The `edgekit bench` results as a table: one row per model x threads x batch when the terminal is wide enough,
else one block per result (readable at 80 columns). Numbers are formatted by edgekit.units, as everywhere else
(sizes in MB or kB, counts with k/M/G, accuracy in %). Torch-free.

    console.print(results_table(doc, console.width))   # doc: the edgekit.bench/… document
    for line in notes(doc): stderr.print(line)          # what a reader must know before trusting a number
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgekit.report.collect import fingerprint_id
from edgekit.units import fmt_acc, fmt_count, fmt_ms, fmt_rate, fmt_size


WIDE_TABLE_COLUMNS = 210  # the one-row-per-result table needs this many columns; narrower gets one block per result


def _title(doc: dict) -> str:
    m = doc["machine"]
    # the id is what a budget's latency_machine: names, so it is printed where the numbers are
    peaks = " · ".join(
        f"peak {p['peak_gmacs_per_s']:.1f} GMAC/s float, {p['int8_peak_gmacs_per_s']:.1f} int8 at {t}t"
        for t, p in (doc.get("peak") or {}).items()
    )
    return (
        f"{m['cpu']} · {m['cores_usable']} cores · {','.join(m['isa']) or 'no SIMD flags'} · "
        f"onnxruntime {m['onnxruntime']} · machine {fingerprint_id(m)}" + (f" · {peaks}" if peaks else "")
    )


def _cells(r: dict) -> dict[str, str]:
    lat, ref, acc = r["latency_ms"], r["vs_reference"], r["accuracy"]
    lo, hi = lat["ci95"]["p50"]
    return {
        "model": r["name"],
        "thr": str(r["threads"]),
        "batch": str(r["batch"]),
        "p50 ms [95% CI]": f"{lat['p50']:.3f} [{lo:.3f}–{hi:.3f}]",
        "p90": f"{lat['p90']:.3f}",
        "p99": f"{lat['p99']:.3f}",
        "cv": f"{lat['cv']:.2f}",
        "items/s": f"{r['throughput_per_s']:.1f}",
        "cold ms": f"{r['cold_start_ms']['total']:.0f}",
        # memory the model adds to the process while it runs (the report's "peak memory" is the whole process)
        "inference mem": fmt_size(r["memory"]["inference_bytes"]),
        "size": fmt_size(r["size_bytes"]),
        "params": fmt_count(r["params"]),
        "MACs": fmt_count(r["macs"]),
        # distance to the limit: achieved MAC rate at p50 and its share of this machine's measured peak
        "GMAC/s (of peak)": fmt_rate(r.get("gmacs_per_s"), r.get("peak_fraction")),
        # the bundle's metric: accuracy, or a detector's mAP@0.5:0.95 (named in the cell, the column is shared)
        "accuracy": fmt_acc(None if acc is None else acc["value"])
        + (f" {acc['metric']}" if acc and acc.get("metric") else ""),
        "÷ ref [min–max]": "–" if ref is None else f"{ref['p50_ratio']:.2f}× [{ref['min']:.2f}–{ref['max']:.2f}]",
        "status": "[yellow]unstable[/]" if r["unstable"] else "[green]ok[/]",
    }


def results_table(doc: dict, width: int = WIDE_TABLE_COLUMNS) -> Table:
    """One row per result when ``width`` allows it, else one two-column block per result (readable at 80 columns)."""
    ref_name = next(
        (
            r["name"]
            for r in doc["results"]
            if r["vs_reference"] is not None and r["vs_reference"].get("p50_ratio") == 1.0
        ),
        None,
    )
    rows = [_cells(r) for r in doc["results"]]
    caption = f"÷ ref: p50 divided by the p50 of {ref_name} (min–max over rounds)" if ref_name else None
    if width >= WIDE_TABLE_COLUMNS:
        table = Table(title=_title(doc), caption=caption)
        for c in rows[0] if rows else ():
            table.add_column(escape(c), justify="left" if c in ("model", "status") else "right")
        for cells in rows:
            table.add_row(*cells.values())
        return table
    table = Table(title=_title(doc), caption=caption, show_header=False, expand=True)
    table.add_column("", justify="left", no_wrap=True)
    table.add_column("", justify="right")
    for i, cells in enumerate(rows):
        if i:
            table.add_section()
        table.add_row(f"[bold]{cells.pop('model')}[/]", f"{cells.pop('thr')} thread(s), batch {cells.pop('batch')}")
        for name, value in cells.items():
            table.add_row(escape(name), value)
    return table


def notes(doc: dict) -> list[str]:
    """The lines below the table (rich markup): each unstable result and why, each result measured while the
    machine switched between two speeds, each throttling event that makes the run invalid."""
    lines = [
        f"[yellow]unstable:[/] {r['name']} ({r['threads']}t, batch {r['batch']}): {'; '.join(r['unstable_reasons'])}"
        for r in doc["results"]
        if r["unstable"]
    ]
    for r in doc["results"]:
        if r.get("speed_states"):
            v = r["speed_states"]
            lines.append(
                f"two speeds: {r['name']} ({r['threads']}t, batch {r['batch']}): {v['fast_share']:.0%} of queries at "
                f"{fmt_ms(v['fast_ms'])}, the rest at {fmt_ms(v['slow_ms'])}: the machine switched speed while "
                f"measuring (steal {r.get('steal_percent')} %); p50 moves with the mix"
            )
    return lines + [f"[red]invalid run:[/] {line}" for line in doc["invalid_reasons"]]
