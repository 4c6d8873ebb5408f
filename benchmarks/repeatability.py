"""Do the evaluate stage's numbers repeat? Its measurement, run back to back; every artifact-to-reference p50 ratio
must stay within --max-spread across the runs. Also prints each artifact's distance to the machine's limit.

    python benchmarks/repeatability.py --run-dir RUN            # 3 runs, evaluate's default settings
    python benchmarks/repeatability.py --run-dir RUN --repeats 5 --max-spread 0.03 --json

Each run is what the evaluate stage does for latency: edgekit.bench.bench over the run's ONNX artifacts in recipe
order, the first (the unpruned fp32 export) as reference, 5 alternating rounds, 500 queries and 5 s per artifact,
batch 1, 1 thread (accuracy is left out: it does not move). Spread = (max - min) / median of an artifact's ratios
across the runs. Printed per artifact: the ratios, the spread, how often it was flagged unstable and why, CPU steal
during its rounds, its two speed states when the machine switched between them (edgekit.bench.stats.speed_states),
achieved GMAC/s and its fraction of the measured peak (edgekit.bench.peak). Exit 1 when a spread exceeds
--max-spread or a rate is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit.bench import PRESETS, bench, document  # noqa: E402
from edgekit.bench.peak import attainable  # noqa: E402


def artifacts(run_dir: Path) -> list[Path]:
    from edgekit.cli.bench import run_models

    return run_models([run_dir])


KINDS = (
    ("ratio to the reference", "ratio spread across rounds"),
    ("CI", "p50 CI too wide"),
    ("round medians", "round medians drift"),
    ("p90", "p90 far above p50 (disturbed queries)"),
    ("too few", "too few queries"),
)


def _kinds(flagged: list[list[str]]) -> dict[str, int]:
    """How many runs gave each kind of unstable reason."""
    out: dict[str, int] = {}
    for reasons in flagged:
        for kind in {next((name for key, name in KINDS if key in r), r) for r in reasons}:
            out[kind] = out.get(kind, 0) + 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-spread", type=float, default=0.03)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per artifact (evaluate's default: 5)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    models = artifacts(args.run_dir)
    attainable(1, refresh=True)  # a peak cached while the machine was busy would overstate every fraction
    settings = replace(PRESETS["default"], min_seconds=args.seconds)
    docs = [document(bench(models, settings=settings, reference=0)) for _ in range(args.repeats)]
    names = [r["name"] for r in docs[0]["results"]]
    peak = docs[-1]["peak"]["1"]
    rows, ok = [], True
    for i, name in enumerate(names):
        recs = [d["results"][i] for d in docs]
        ratios = [r["vs_reference"]["p50_ratio"] for r in recs]
        spread = (max(ratios) - min(ratios)) / statistics.median(ratios)
        flagged = [r["unstable_reasons"] for r in recs if r["unstable"]]
        row = {
            "artifact": name,
            "p50_ms": [r["latency_ms"]["p50"] for r in recs],
            "ratios": ratios,
            "spread": round(spread, 4),
            "flagged_runs": len(flagged),
            "reasons": _kinds(flagged),
            "steal_percent": [r["steal_percent"] for r in recs],
            "cpu_busy_percent": [r["cpu_busy_percent"] for r in recs],
            "speed_states": [r["speed_states"] for r in recs],
            "macs": recs[-1]["macs"],
            "gmacs_per_s": recs[-1]["gmacs_per_s"],
            "peak_fraction": recs[-1]["peak_fraction"],
        }
        ok &= spread <= args.max_spread and row["gmacs_per_s"] is not None
        rows.append(row)
    out = {"repeats": args.repeats, "max_spread": args.max_spread, "peak": peak, "rows": rows, "ok": ok}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0 if ok else 1
    print(
        f"{args.repeats} back-to-back evaluate measurements of {args.run_dir}; reference {names[0]}; machine peak "
        f"{peak['peak_gmacs_per_s']:.1f} GMAC/s float "
        f"(GEMM {peak['gemm_gmacs_per_s']:.1f}, conv {peak['conv_gmacs_per_s']:.1f}), "
        f"{peak['int8_peak_gmacs_per_s']:.1f} int8 "
        f"(GEMM {peak['int8_gemm_gmacs_per_s']:.1f}, conv {peak['int8_conv_gmacs_per_s']:.1f}), 1 thread"
    )
    for r in rows:
        mark = "OK" if r["spread"] <= args.max_spread else "FAIL"
        print(
            f"  {r['artifact']:<36} ratios {' '.join(f'{x:.3f}' for x in r['ratios'])}  spread {r['spread']:.1%} {mark}"
            f"  p50 {' '.join(f'{x:.3f}' for x in r['p50_ms'])} ms"
        )
        rate = "–" if r["gmacs_per_s"] is None else f"{r['gmacs_per_s']:.1f} GMAC/s = {r['peak_fraction']:.0%} of peak"
        print(
            f"  {'':<36} {r['macs'] / 1e6 if r['macs'] else 0:.1f} M MACs, {rate}; steal "
            f"{'/'.join(str(s) for s in r['steal_percent'])} %, "
            f"all cores busy {'/'.join(str(b) for b in r['cpu_busy_percent'])} %; "
            f"flagged in {r['flagged_runs']}/{args.repeats} run(s)"
            + (f": {'; '.join(f'{k} ({n}x)' for k, n in r['reasons'].items())}" if r["reasons"] else "")
        )
        states = [v for v in r["speed_states"] if v]
        if states:
            fast, share, slow = (
                "/".join(fmt.format(v[k]) for v in states)
                for k, fmt in (("fast_ms", "{:.3f}"), ("fast_share", "{:.0%}"), ("slow_ms", "{:.3f}"))
            )
            print(
                f"  {'':<36} two speeds in {len(states)}/{args.repeats} run(s): fast {fast} ms ({share} of queries), "
                f"slow {slow} ms"
            )
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
