"""The CI gate: evaluate budgets against a report, optionally against a stored baseline report.

Size and accuracy gates are deterministic (same files, same test split → same numbers on any machine), so they
are always enforced. Latency depends on the machine: a latency regression is checked only when both reports were
measured on machines with the same fingerprint, and an absolute latency limit only on the machine named by
``latency_machine`` when one is given; otherwise the gate is skipped with a warning, never passed silently.

    >>> outcome = check(load_report("runs/quick"), Budgets(max_size_mb=2))   # doctest: +SKIP
    >>> outcome.passed, [r.line() for r in outcome.failed]                    # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from typing import Any

from edgekit.errors import InputError
from edgekit.recipe.budgets import DEFAULT_REGRESSION, FINAL, Budgets, Limits
from edgekit.decide.rows import metric_name
from edgekit.decide.sense import findings
from edgekit.report.devices import on_device
from edgekit.decide.limits import assess, on_samples_of
from edgekit.decide.verdict import of_report
from edgekit.units import fmt_acc, points
from edgekit.report.regression import check_regression
from edgekit.report.gate import (
    SAMPLE_KEYS,
    Outcome,
    Result,
    find,
    gate,
    latency_at,
    mismatch,
    need,
    skip,
    timing_problem,
)


def check(
    report: dict[str, Any], budgets: Budgets | None, baseline: dict[str, Any] | None = None, allow_skipped: bool = False
) -> Outcome:
    """Every budget as a Result. Bad budgets for this report (unknown artifact or baseline id, a percentile the
    report did not measure) raise InputError: a gate that cannot be evaluated is a configuration error.
    A gate whose every budget was skipped enforced nothing: it fails unless ``allow_skipped``. A run that did not
    finish fails the gate here, and only here (with or without budgets)."""
    status = (report.get("run") or {}).get("status")
    if status not in (None, "ok") and not report.get(
        "artifacts"
    ):  # it died before measuring anything: the answer (exit 1)
        why = f": {report['run']['error']}" if report["run"].get("error") else ""
        return Outcome(
            [
                Result(
                    "run_status",
                    "run",
                    "fail",
                    None,
                    None,
                    "",
                    f"the run did not finish (status {status}{why}) and measured no artifact; "
                    "run `edgekit shrink` again to complete it",
                )
            ]
        )
    if budgets is None and baseline is None:
        found = findings(report)
        noted = f" (the report has {len(found)} sense warning(s), e.g. {found[0].line()})" if found else ""
        raise InputError("nothing to check: give --budgets FILE, a recipe with budgets:, or --baseline REPORT" + noted)
    budgets = budgets or Budgets()
    out = Outcome(verdict=of_report(report))
    _check_sense(report, budgets, out)
    if status not in (None, "ok"):  # a run that died keeps older artifacts around: never pass it
        error = report["run"].get("error") or "no error recorded"
        out.results.append(
            Result(
                "run_status",
                report.get("final") or "-",
                "fail",
                None,
                None,
                "",
                f"the run did not finish (status {status}): {error}",
            )
        )
    if budgets.device is not None:  # the budget names a device: its own numbers, never the host's
        report = on_device(report, budgets.device)
    for selector, limits in budgets.targets():
        if (
            selector == FINAL
            and report.get("artifacts")
            and not report.get("final")
            and (report.get("ship") or {}).get("reason")
        ):
            # the shipping rule let nothing ship: that is the gate's answer for the shipped artifact (exit 1); the
            # limits are still shown on the artifact the rule would pick without them, so each broken one is named
            out.results.append(Result("ship", "-", "fail", None, None, "", report["ship"]["reason"]))
            if not report["ship"].get("closest"):
                continue
            selector = report["ship"]["closest"]
        art = find(report, selector)
        if art.get("device_problem"):
            out.results.append(
                Result("device", art["id"], "fail", None, None, "", f"{art['id']}: {art['device_problem']}")
            )
            continue
        _check_limits(report, art, limits, budgets, out)
    regression = budgets.regression.model_dump() if budgets.regression else (DEFAULT_REGRESSION if baseline else None)
    if regression:
        check_regression(report, baseline, budgets, regression, out)
    if not any(r.budget != "run_status" for r in out.results):
        raise InputError("nothing to check: the budgets set no limit")
    enforced = [r for r in out.results if r.budget != "run_status" and r.status != "skip"]
    if not enforced and not allow_skipped:
        skipped = [r for r in out.results if r.status == "skip"]
        out.results.append(
            Result(
                "all_skipped",
                report.get("final") or "-",
                "fail",
                None,
                None,
                "",
                f"all {len(skipped)} budget(s) were skipped, so nothing was enforced "
                f"({skipped[0].message.split(': ', 1)[-1]}); fix that, or pass --allow-skipped to accept it",
            )
        )
    return out


def _check_limits(report: dict, art: dict, lim: Limits, budgets: Budgets, out: Outcome) -> None:
    """One Result per limit; pass, fail or skip as edgekit.decide.limits reads it (the shipping rule's and the
    search's reading), with the measured value and the limit in the budget's own unit."""
    aid = art["id"]
    ref = _reference(report, art, lim, budgets)
    for name in lim.must_beat:
        _baseline(report, name)  # an unknown baseline id is a configuration error
    if lim.max_latency_ms is not None:
        latency_at(art, lim.latency_percentile)  # a percentile the report did not measure is one too
    margins = assess(lim, art, ref, art.get("machine"), report["baselines"], budgets)
    for key, margin in margins.items():
        limit, unit, what, at_most = _shown(key, lim, art, ref)
        if isinstance(margin, str):
            out.warnings.append(f"{key} ({aid}) skipped: {margin}")
            out.results.append(skip(key, aid, limit, unit, margin))
            continue
        if key == "max_latency_ms":
            timing_problem(art, key, out)  # warns on a noisy (unstable) timing; an invalid one was skipped above
        if key.startswith("must_beat."):
            base = _baseline(report, key.split(".", 1)[1])
            sub = on_samples_of(art, base)[0]
            ok = margin <= 0
            out.results.append(
                Result(
                    key,
                    aid,
                    "pass" if ok else "fail",
                    sub["accuracy"] * 100,
                    base["accuracy"] * 100,
                    "%",
                    f"{aid}: {metric_name(art)} {fmt_acc(sub['accuracy'])} {'>' if ok else '≤'} "
                    f"{base['id']}'s {fmt_acc(base['accuracy'])}",
                )
            )
            continue
        out.results.append(
            gate(key, aid, _measured(key, art, ref, lim), limit, unit, what, at_most=at_most, broken=margin > 0)
        )


def _reference(report: dict, art: dict, lim: Limits, budgets: Budgets) -> dict | None:
    """The fp32 reference a drop is measured from: the budgets' own, else the run's (edgekit.decide.reference)."""
    if lim.max_accuracy_drop_pt is None:
        return None
    aid = art["id"]
    ref = find(report, budgets.reference or report.get("reference") or FINAL)
    if ref["id"] == aid:
        raise InputError(
            f"max_accuracy_drop_pt ({aid}): the run has no separate fp32 reference to measure a drop "
            f"from (found '{ref['id']}'); add an export stage before quantizing, or name one with "
            f"budgets.reference: STAGE_ID"
        )
    if why := mismatch(art, ref, SAMPLE_KEYS, (aid, ref["id"])):
        raise InputError(f"max_accuracy_drop_pt ({aid}): {why}; score both on the same test samples")
    need(ref, "accuracy")
    return ref


def _measured(key: str, art: dict, ref: dict | None, lim: Limits) -> float:
    return {
        "max_size_mb": lambda: art["size_bytes"] / 1e6,
        "max_size_bytes": lambda: art["size_bytes"],
        "max_latency_ms": lambda: latency_at(art, lim.latency_percentile),
        "min_accuracy_pct": lambda: art["accuracy"] * 100,
        "max_accuracy_drop_pt": lambda: points(ref["accuracy"], art["accuracy"]),
    }[key]()


def _shown(key: str, lim: Limits, art: dict, ref: dict | None) -> tuple[float | None, str, str, bool]:
    """(limit, unit, what is measured, whether the limit is a maximum) for a budget key, as the gate prints it."""
    if key == "max_size_mb":
        return lim.max_size_mb, "MB", "file size", True
    if key == "max_size_bytes":
        return lim.max_size_bytes, "bytes", "file size", True
    if key == "max_latency_ms":
        return lim.max_latency_ms, "ms", f"{lim.latency_percentile} latency", True
    metric = metric_name(art)  # budgets on accuracy are in the task's primary metric (mAP for a detector)
    if key == "min_accuracy_pct":
        return lim.min_accuracy_pct, "%", metric, False
    if key == "max_accuracy_drop_pt":
        return (
            lim.max_accuracy_drop_pt,
            "pt",
            f"{metric} drop vs {ref['id']} ({fmt_acc(ref['accuracy'])} → {fmt_acc(art['accuracy'])})",
            True,
        )
    return None, "%", metric, False


def _check_sense(report: dict, budgets: Budgets, out: Outcome) -> None:
    """Sense checks (edgekit.decide.sense) warn; those named in budgets' fail_on fail the gate, one result per
    finding."""
    found = findings(report)
    for f in found:
        if f.check in budgets.fail_on:
            out.results.append(
                Result(f"sense.{f.check}", f.artifact, "fail", None, None, "", f"{f.artifact}: {f.message}")
            )
        else:
            out.warnings.append(f"sense: {f.line()}")
    for name in budgets.fail_on:
        if not any(f.check == name for f in found):
            out.results.append(
                Result(
                    f"sense.{name}",
                    report.get("final") or "-",
                    "pass",
                    None,
                    None,
                    "",
                    "no artifact triggers this sense check",
                )
            )


def _baseline(report: dict, name: str) -> dict:
    hit = next((b for b in report["baselines"] if b["id"] == name), None)
    if hit is None:
        ids = [b["id"] for b in report["baselines"]]
        hint = difflib.get_close_matches(name, ids, n=1)
        raise InputError(
            f"must_beat: the report has no baseline '{name}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else f"; baselines: {', '.join(ids) or 'none'}")
        )
    return hit
