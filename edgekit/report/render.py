"""report.md and report.html from a report dict. Both come from the same sections (title, columns, rows), so
they always say the same thing. The HTML is one self-contained file: inline CSS, the chart as a data: URI, no
script and no external request, so it opens offline and can be attached to a CI run as is."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any

from edgekit.decide.sense import findings
from edgekit.units import fmt_acc, fmt_count, fmt_ms, fmt_rate, fmt_size
from edgekit.decide.verdict import of_report


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def sections(report: dict[str, Any]) -> list[Section]:
    front = report["pareto"]["frontier"]
    out = [s for s in (ship_section(report), verdict_section(report)) if s is not None]
    arts = Section(
        "Artifacts",
        [
            "artifact",
            "lineage",
            "kind",
            "accuracy",
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
        note=f"Latency is batch-1 wall time. ★ = on the accuracy/latency Pareto frontier. "
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
                fmt_acc(a["accuracy"]),
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


def baselines_section(report: dict[str, Any], front: list[str]) -> Section:
    """Prompted baselines beside latency and accuracy: cost per 1k queries, tokens, unparsed answers; the note
    holds each chat prompt with its parsing rule, and what was not compared."""
    base = Section(
        "Prompted baselines",
        [
            "baseline",
            "accuracy",
            "size",
            "p50",
            "p95",
            "params",
            "cost / 1k queries",
            "tokens / query (in+out)",
            "unparsed",
            "Pareto",
        ],
    )
    notes = []
    for b in report["baselines"]:
        if b.get("not_compared"):
            base.rows.append([b["id"], "–", "–", "–", "–", "–", "–", "–", "–", ""])
            notes.append(f"{b['id']}: {b['not_compared']}.")
            continue
        lat, usage, n = b["latency_ms"], b.get("usage") or {}, b.get("test_samples") or 0
        cost = (
            "–"
            if b["cost_per_1k"] is None
            else f"${b['cost_per_1k']:.4g}" + (" (estimated tokens)" if b.get("cost_estimated") else "")
        )
        tokens = (
            "–"
            if not n or "prompt_tokens" not in usage
            else f"{usage['prompt_tokens'] / n:.0f}+{usage.get('completion_tokens', 0) / n:.0f}"
            + ("" if usage.get("tokens", "reported") == "reported" else " est.")
        )
        unparsed = "–" if b.get("unparsed") is None else f"{b['unparsed']} of {n}"
        base.rows.append(
            [
                b["id"],
                fmt_acc(b["accuracy"]),
                fmt_size(b["size_bytes"]),
                fmt_ms(lat.get("p50")),
                fmt_ms(lat.get("p95")),
                fmt_count(b["params"]),
                cost,
                tokens,
                unparsed,
                "★" if b["id"] in front else "",
            ]
        )
        prompt = b.get("prompt") or {}
        if prompt.get("instruction"):
            shown = {k: v for k, v in prompt.items() if k not in ("instruction", "parse_rule")}
            notes.append(
                f"{b['id']} prompt ({', '.join(f'{k} {v}' for k, v in shown.items())}): "
                f'"{prompt["instruction"].replace(chr(10), " ⏎ ")}" Parsing: {prompt.get("parse_rule", "–")}.'
                + (
                    f" Unparsed answers, e.g.: {usage['unparsed_answers'][:3]}."
                    if usage.get("unparsed_answers")
                    else ""
                )
            )
        elif prompt.get("templates"):
            notes.append(f"{b['id']} prompt templates: {prompt['templates']}.")
    if not of_report(report):
        notes.insert(0, "No verdict: it needs both a shipped artifact and something scored to compare it with.")
    base.note = " ".join(notes)
    return base


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
        "Verdict", ["artifact", "kind", "accuracy", "size", "p50", "shipped vs it", "outcome"], note=v["sentence"]
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
        else "None: accuracy above chance, pruned and INT8 models no slower than their parents, every stage changed "
        "its input, params and MACs counted."
    )
    return sec


def pruning_section(report: dict[str, Any]) -> Section | None:
    """Each prune stage: what it was asked, what it removed, and the speed-up it measured against its parent
    (edgekit.torchkit.prune_speed); None without a prune stage."""
    stages = [s for s in report.get("stages") or [] if s.get("pruning")]
    if not stages:
        return None
    sec = Section(
        "Pruning",
        ["stage", "asked", "MACs kept", "params kept", "round_to", "p50 vs parent", "accuracy"],
        note="p50 vs parent: the prune stage's own timing of both exported models (batch 1, 1 thread, "
        "alternating rounds; the range is the per-round ratios). Accuracy: test accuracy before pruning → "
        "right after it, before any recovery.",
    )

    def kept(r: float | None) -> str:
        return "–" if r is None else f"{r * 100:.0f} %"

    for st in stages:
        pr, sp = st["pruning"], st.get("speed") or {}
        if pr.get("target") == "latency" or "latency_target" in sp:
            asked = f"x{sp.get('latency_target', 1 - (pr.get('ratio') or 0)):.2f} p50"
        else:
            asked = "–" if pr.get("target") is None else f"-{pr['ratio'] * 100:.0f} % {pr['target']}"
        speed = (
            "not measured"
            if "ratio" not in sp
            else f"x{sp['ratio']:.2f} [{sp['min']:.2f}–{sp['max']:.2f}]"
            + ("" if "target_met" not in sp else " (target met)" if sp["target_met"] else " (target missed)")
        )
        sec.rows.append(
            [
                st["id"],
                asked,
                kept(pr.get("macs_ratio")),
                kept(pr.get("params_ratio")),
                "none" if pr.get("round_to") is None else str(pr["round_to"]),
                speed,
                f"{fmt_acc(pr.get('test_accuracy_before'))} → {fmt_acc(pr.get('test_accuracy_after_pruning'))}",
            ]
        )
    return sec


def devices_section(report: dict[str, Any]) -> Section:
    """Each artifact as measured on each device (`edgekit bench --on`), beside the host's accuracy."""
    sec = Section(
        "Devices",
        [
            "artifact",
            "device",
            "machine",
            "accuracy on device",
            "host accuracy",
            "difference",
            "p50 on device",
            "status",
        ],
    )
    for a in report["artifacts"]:
        for name, d in (a.get("devices") or {}).items():
            cmp = d.get("accuracy_vs_host")
            diff = (
                "–"
                if cmp is None
                else f"{cmp['difference_pt']:+.2f} pt"
                + (
                    f" ⚠ beyond noise (±{cmp['noise_pt']:.2f})"
                    if cmp["beyond_noise"]
                    else f" (noise ±{cmp['noise_pt']:.2f})"
                )
            )
            p50 = (
                "emulated: not timed"
                if d.get("emulated")
                else fmt_ms(d["latency_ms"].get("p50")) + (" (invalid)" if d.get("measurement_valid") is False else "")
            )
            sec.rows.append(
                [
                    a["id"],
                    name,
                    d.get("machine") or "–",
                    fmt_acc(d.get("accuracy")),
                    fmt_acc(a.get("accuracy")),
                    diff,
                    p50,
                    d.get("status", "ok"),
                ]
            )
    failed = [d for d in report["devices"] if d["status"] != "ok"]
    for d in failed:
        sec.rows.append(
            ["–", d["name"], d.get("machine") or "–", "–", "–", "–", "–", f"{d['status']}: {d.get('error') or ''}"]
        )
    notes = {
        cmp["note"]
        for a in report["artifacts"]
        for d in (a.get("devices") or {}).values()
        if (cmp := d.get("accuracy_vs_host")) and cmp["difference_pt"] != 0
    }
    sec.note = (
        "Measured on the device with `edgekit bench --on`; noise is the 95 % interval of accuracy on a test set "
        "that size. " + " ".join(sorted(notes))
    ).strip()
    return sec


def _header(report: dict[str, Any]) -> list[tuple[str, str]]:
    r = report.get("recipe", {})
    run = report.get("run", {})
    return [
        ("recipe", f"{r.get('name', '?')} ({r.get('file', '?')})"),
        ("recipe sha256", str(r.get("sha256", "?"))[:16]),
        ("run", f"{run.get('status', '?')}, started {run.get('started', '?')}"),
        ("report", f"{report['schema']}, {report['created']}"),
        ("Pareto frontier", " → ".join(report["pareto"]["frontier"]) or "–"),
    ]


def markdown(report: dict[str, Any], chart: str | None = "pareto.png") -> str:
    """report.md; ``chart`` is the relative path of the PNG (None when it could not be drawn)."""
    name = report.get("recipe", {}).get("name", "run")
    lines = [f"# edgekit report: {name}", ""]
    lines += [f"- **{k}**: {_md(v)}" for k, v in _header(report)]
    lines.append("")
    lines.append(
        f"![accuracy vs latency, marker area ∝ file size]({chart})"
        if chart
        else "_No chart: install the `report` extra (matplotlib) and run `edgekit report` again._"
    )
    for s in sections(report):
        lines += ["", f"## {s.title}", ""]
        if s.rows:
            lines.append("| " + " | ".join(s.columns) + " |")
            lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(s.columns))) + "|")
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in s.rows]
        if s.note:
            lines += ["", s.note]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


_CSS = (
    "\n"
    'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;'
    "max-width:1100px;color:#1b1f24;padding:0 1rem}\n"
    "h1{font-size:1.6rem;margin-bottom:.3rem}"
    "h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}\n"
    "dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;font-size:.9rem}"
    "dt{font-weight:600;color:#57606a}dd{margin:0}\n"
    "table{border-collapse:collapse;font-size:.88rem;width:100%}"
    "th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:right}\n"
    "th{background:#f6f8fa}td:first-child,th:first-child{text-align:left;font-weight:600}"
    "tr:nth-child(even) td{background:#fbfcfd}\n"
    "p.note{font-size:.85rem;color:#57606a}img{max-width:100%;border:1px solid #d0d7de;border-radius:6px}\n"
    ".missing{padding:1rem;background:#fff8c5;border:1px solid #d4a72c;border-radius:6px}\n"
)


def html_page(report: dict[str, Any], png: bytes | None) -> str:
    """report.html: self-contained (inline CSS, chart embedded as base64), nothing fetched from anywhere."""
    e = html.escape
    name = report.get("recipe", {}).get("name", "run")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # the browser itself refuses any load that is not inline: the page cannot phone home
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>edgekit report: {e(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>edgekit report: {e(name)}</h1><dl>",
    ]
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _header(report)]
    parts.append("</dl>")
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            '<p><img alt="accuracy vs latency, marker area proportional to file size" '
            f'src="data:image/png;base64,{data}"></p>'
        )
    else:
        parts.append(
            '<p class="missing">No chart: install the <code>report</code> extra (matplotlib) and run '
            "<code>edgekit report</code> again.</p>"
        )
    for s in sections(report):
        parts.append(f"<h2>{e(s.title)}</h2>")
        if s.rows:
            parts.append("<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in s.columns) + "</tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in s.rows]
            parts.append("</tbody></table>")
        if s.note:
            parts.append(f'<p class="note">{e(s.note)}</p>')
    parts.append(f'<p class="note">Generated by edgekit {e(report.get("edgekit", ""))}.</p></body></html>')
    return "\n".join(parts) + "\n"
