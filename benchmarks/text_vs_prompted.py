"""Issue 6 targets, read from ONE run of recipes/wordnet-text.yaml (all rows measured side by side there):
the final ONNX artifact (the run's verdict) vs the MiniLM zero-shot baseline on the same test split.

    edgekit shrink recipes/wordnet-text.yaml --run-dir runs/wordnet-text
    python benchmarks/text_vs_prompted.py runs/wordnet-text [--json]

Targets: accuracy >= +15 pt, file size <= 0.1x, p50 latency (batch 1, 1 thread) <= 0.1x. Exit 1 if one fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgekit.report.build import build_report, read_run
from edgekit.decide.verdict import verdict


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    record = read_run(Path(argv[0]))
    report = build_report(Path(argv[0]))
    arts, bases = report["artifacts"], report["baselines"]
    zero_shot = [b for b in bases if b.get("provider") == "embedding"]
    v = verdict(arts, zero_shot, report["final"])  # the run's verdict rule, against the zero-shot baseline only
    if v is None:
        print(f"{argv[0]}: the run has no scored final artifact or no embedding baseline row")
        return 2
    checks = {
        "accuracy_gain_pt >= 15": v.accuracy_diff_pt >= 15,
        "size_ratio <= 0.1": v.size_ratio is not None and v.size_ratio <= 0.1,
        "latency_ratio <= 0.1": v.latency_ratio is not None and v.latency_ratio <= 0.1,
    }
    wall = sum(s["wall_time_s"] for s in record["stages"])
    out = {
        "artifact": v.artifact,
        "baseline": v.baseline,
        "accuracy_gain_pt": v.accuracy_diff_pt,
        "size_ratio": v.size_ratio,
        "latency_ratio": v.latency_ratio,
        "stage_wall_time_s": round(wall, 1),
        "other_baselines": [b for b in bases if b.get("provider") != "embedding"],
        "checks": checks,
    }
    if "--json" in argv:
        print(json.dumps(out, indent=2))
    else:
        print(v.sentence)
        for r in v.rows:
            print(f"  {r['metric']:<24} {r['artifact']:>14} {r['baseline']:>14} {r['comparison']:>12}")
        for b in out["other_baselines"]:
            print(
                f"  also: {b['id']} ({b.get('provider')}): {b['accuracy'] * 100:.1f} % on {b['test_samples']} samples, "
                f"p50 {b['latency_ms'].get('p50')} ms"
            )
        print(f"  stage wall time (sum): {wall:.0f} s")
        for name, ok in checks.items():
            print(f"  {'PASS' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
