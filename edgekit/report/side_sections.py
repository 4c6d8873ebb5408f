"""The report's sections beside the decision: prompted baselines (cost, tokens, prompts), what each prune stage
removed and measured, and each artifact on each device. Torch-free."""

from __future__ import annotations

from typing import Any

from edgekit.decide.verdict import of_report
from edgekit.decide.rows import metric_of
from edgekit.report.section import Section
from edgekit.units import fmt_acc, fmt_count, fmt_ms, fmt_size


def baselines_section(report: dict[str, Any], front: list[str]) -> Section:
    """Prompted baselines beside latency and accuracy: cost per 1k queries, tokens, unparsed answers; the note
    holds each chat prompt with its parsing rule, and what was not compared."""
    base = Section(
        "Prompted baselines",
        [
            "baseline",
            metric_of(report["artifacts"] + report["baselines"]),
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


def pruning_section(report: dict[str, Any]) -> Section | None:
    """Each prune stage: what it was asked, what it removed, and the speed-up it measured against its parent
    (edgekit.torchkit.prune_speed); None without a prune stage."""
    stages = [s for s in report.get("stages") or [] if s.get("pruning")]
    if not stages:
        return None
    sec = Section(
        "Pruning",
        ["stage", "asked", "MACs kept", "params kept", "round_to", "p50 vs parent", metric_of(report["artifacts"])],
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
            f"{metric_of(report['artifacts'])} on device",
            f"host {metric_of(report['artifacts'])}",
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
