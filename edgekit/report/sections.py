"""The report's sections in order: the decision first (shipped artifact, verdict), then the artifacts table, sense
checks, and the sections beside them (edgekit.report.side_sections). edgekit.report.render draws them as Markdown
and HTML. Torch-free."""

from __future__ import annotations

from typing import Any

from edgekit.decide.rows import ACCURACY, metric_of
from edgekit.decide.sense import findings
from edgekit.decide.verdict import of_report
from edgekit.report.section import Section
from edgekit.report.side_sections import baselines_section, devices_section, pruning_section
from edgekit.units import fmt_acc, fmt_count, fmt_ms, fmt_rate, fmt_size


def report_metric(report: dict[str, Any]) -> str:
    """The task's primary metric, as every table heads its column (edgekit.decide.rows.metric_of)."""
    return metric_of((report.get("artifacts") or []) + (report.get("baselines") or []))


def secondary_metrics(report: dict[str, Any]) -> list[str]:
    """The task's other metrics (a detector's mAP@0.5 beside mAP@0.5:0.95), in the order the rows give them."""
    primary, names = report_metric(report), []
    for a in report.get("artifacts") or []:
        names += [n for n in a.get("metrics") or {} if n != primary and n not in names]
    return names


def sections(report: dict[str, Any]) -> list[Section]:
    front = report["pareto"]["frontier"]
    out = [s for s in (ship_section(report), verdict_section(report)) if s is not None]
    metric, more = report_metric(report), secondary_metrics(report)
    arts = Section(
        "Artifacts",
        [
            "artifact",
            "lineage",
            "kind",
            metric,
            *more,
            "chance",
            "size",
            "p50",
            "p95",
            "p99",
            "params",
            "MACs",
            "GMAC/s (of peak)",
            "peak memory",
            "Pareto",
        ],
        note=f"Latency is batch-1 wall time. ★ = on the {metric}/latency Pareto frontier. "
        f"fp32 reference: {report.get('reference') or '–'}; shipped: {report.get('final') or '–'}.",
    )
    kept_float = []
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        flag = " (unstable)" if a.get("unstable") else (" (invalid)" if a.get("measurement_valid") is False else "")
        kind = a["kind"]
        if a.get("kept") == "float":  # the row is named after an INT8 stage but holds the float file
            kind += " (float kept)"
            kept_float.append(f"{a['id']}: float model kept — {a.get('kept_reason') or 'no reason recorded'}.")
        arts.rows.append(
            [
                a["id"],
                a.get("lineage_model") or a.get("lineage_root") or "–",
                kind,
                fmt_acc(a["accuracy"]) + _ci(a),
                *[fmt_acc((a.get("metrics") or {}).get(n)) for n in more],
                fmt_acc(a.get("chance_accuracy")),
                fmt_size(a["size_bytes"]),
                fmt_ms(lat.get("p50")) + flag,
                fmt_ms(lat.get("p95")),
                fmt_ms(lat.get("p99")),
                fmt_count(a["params"]),
                fmt_count(a["macs"]),
                fmt_rate(a.get("gmacs_per_s"), a.get("peak_fraction")),
                fmt_size(a["peak_memory_bytes"]),
                "★" if a["id"] in front else "",
            ]
        )
    if metric != ACCURACY and any(a.get("accuracy_ci95") for a in report["artifacts"]):
        arts.note += f" {metric} [low–high]: 95 % bootstrap interval over the test images; ties are judged on it."
    if kept_float:
        arts.note = (arts.note or "") + " " + " ".join(kept_float)
    decided = [
        f"{a['id']}: INT8 or fp32 chosen on device {d['device']} (machine {d['machine']}, kept {d['kept']})."
        for a in report["artifacts"]
        if (d := a.get("decided_on"))
    ]
    arts.note = " ".join(filter(None, [arts.note, *decided]))
    out.append(arts)
    out.append(sense_section(report))
    if (pruned := pruning_section(report)) is not None:
        out.append(pruned)
    if report["baselines"]:
        out.append(baselines_section(report, front))
    if report.get("devices"):
        out.append(devices_section(report))
    machines = Section("Machines", ["fingerprint", "details"])
    for mid, fp in report.get("machines", {}).items():
        details = (
            ", ".join(f"{k}: {v}" for k, v in fp.items() if not isinstance(v, (dict, list)))
            if isinstance(fp, dict)
            else str(fp)
        )
        machines.rows.append([mid, details[:300]])
    if not machines.rows:
        machines.note = "No machine fingerprint was recorded with these measurements: latency gates will be skipped."
    out.append(machines)
    out.append(
        Section(
            "Versions", ["package", "version"], [[k, str(v)] for k, v in sorted(report.get("versions", {}).items())]
        )
    )
    return out


def ship_section(report: dict[str, Any]) -> Section | None:
    """Which artifact ships (edgekit.decide.ship) and why each other one lost; None for a report without a decision."""
    ship = report.get("ship")
    if not ship:
        return None
    sec = Section("Shipped artifact", ["artifact", "decision", "why"])
    if ship["artifact"]:
        sec.rows.append([ship["artifact"], "ships", ship["reason"]])
    sec.rows += [[ident, "lost", why] for ident, why in ship["lost"].items()]
    sec.note = (
        f"Rule: {ship['rule']}. The shipped file is copied to ship/model.onnx in the run directory."
        if ship["artifact"]
        else ship["reason"]
    )
    return sec


def verdict_section(report: dict[str, Any]) -> Section | None:
    """The verdict sentence and the table behind it: the shipped artifact, each other lineage, each baseline."""
    v = of_report(report)
    if not v:
        return None
    sec = Section(
        "Verdict",
        ["artifact", "kind", report_metric(report), "size", "p50", "shipped vs it", "outcome"],
        note=v["sentence"],
    )
    if "contender" not in (v["rows"] or [{}])[0]:  # a report.json written by an older edgekit: the sentence only
        return sec
    sec.rows = [
        [r["contender"], r["kind"], r["accuracy"], r["size"], r["p50"], r["comparison"], r["outcome"]]
        for r in v["rows"]
    ]
    return sec


def sense_section(report: dict[str, Any]) -> Section:
    """What edgekit.decide.sense found wrong with these results (a report without the key is checked now)."""
    found = report["sense"] if isinstance(report.get("sense"), list) else [f.to_json() for f in findings(report)]
    sec = Section(
        "Sense checks", ["check", "artifact", "finding"], [[f["check"], f["artifact"], f["message"]] for f in found]
    )
    sec.note = (
        "Each is a warning; budgets' fail_on: [...] makes the gate fail on it."
        if found
        else f"None: {report_metric(report)} above chance, pruned and INT8 models no slower than their parents, "
        "every stage changed its input, params and MACs counted."
    )
    return sec


def _ci(row: dict[str, Any]) -> str:
    """A row's 95 % interval of its metric, where it carries one (detection): " [39.10–43.30]"."""
    ci = row.get("accuracy_ci95")
    return f" [{ci[0] * 100:.2f}–{ci[1] * 100:.2f}]" if ci else ""
