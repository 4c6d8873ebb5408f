"""report.json: one versioned document per run with every measured artifact and baseline.

Built from a run directory only (edgekit.report.collect reads run.json, the stage manifests and the measured rows),
so `edgekit report RUN_DIR` can rebuild it anywhere, torch-free; every decision in it (reference, ship, verdict,
frontier) is made by edgekit.decide from what the run recorded, never from an earlier report.json.

    {"schema": "edgekit.report/1", "recipe": {...}, "versions": {...}, "reference": "export", "final": "quantize",
     "artifacts": [{"id", "stage", "kind", "role": "artifact", "accuracy", "size_bytes",
                    "latency_ms": {"p50", "p90", "p95", "p99"}, "params", "macs", "peak_memory_bytes", "machine", ...}],
     "baselines": [... same fields, "role": "baseline", "cost_per_1k" ...],
     "machines": {fingerprint id: fingerprint}, "pareto": {"frontier": [ids]}, "stages": [...]}
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.decide.reference import reference_of
from edgekit.errors import InputError
from edgekit.fsutil import read_json
from edgekit.report.collect import collect, fingerprint_id, stage_rows, versions
from edgekit.report.collect import in_run, read_run, recorded_budgets  # noqa: F401  (read from here by benchmarks and commands)
from edgekit.report.devices import attach as attach_devices
from edgekit.report.pareto import frontier
from edgekit.decide.sense import findings
from edgekit.decide.ship import decide_for_run, parse_rule
from edgekit.decide.verdict import verdict

SCHEMA = "edgekit.report/1"
REPORT_FILE = "report.json"


def build_report(run_dir: str | Path) -> dict[str, Any]:
    """The report of a finished run directory. Everything it decides on comes from the run itself (run.json
    records the recipe's ship rule and budgets), never from an earlier report.json.

    >>> report = build_report("runs/quick")           # doctest: +SKIP
    >>> [a["id"] for a in report["artifacts"]], report["pareto"]["frontier"]   # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    got = collect(run_dir)
    run, budgets, manifests, arts, bases, machines = (
        got.run,
        got.budgets,
        got.manifests,
        got.artifacts,
        got.baselines,
        got.machines,
    )
    devices = attach_devices(run_dir, arts, machines, fingerprint_id)  # edgekit bench --on results, beside the host's
    rule = parse_rule(run.get("recipe", {}).get("ship"))
    reference = reference_of(arts, rule, budgets)
    report = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgekit": __version__,
        "run_dir": str(run_dir.resolve()),
        "recipe": run.get("recipe", {}),
        "run": {k: run.get(k) for k in ("status", "started", "finished", "error") if k in run},
        "versions": versions(manifests),
        "reference": reference,
        "final": None,  # the shipped artifact, set below
        "artifacts": arts,
        "baselines": bases,
        "machines": machines,
        "devices": devices,
        "stages": stage_rows(run, manifests),
        "budgets": budgets.model_dump(mode="json", exclude_unset=True) if budgets else None,
    }
    ship = decide_for_run(arts, run.get("recipe", {}).get("ship"), budgets, bases)
    report["ship"] = ship.to_dict() if ship else None
    report["final"] = ship.artifact if ship else None  # budgets' "final", the verdict and check all mean this one
    report["pareto"] = pareto_section(arts + bases)
    report["sense"] = [f.to_json() for f in findings(report)]
    found = verdict(arts, bases, report["final"], ship.lost if ship else None, rule)
    report["verdict"] = found.to_dict() if found else None  # the one verdict console, report and check show
    return report


def pareto_section(rows: list[dict]) -> dict[str, Any]:
    return {"x": "latency_ms.p50", "y": "accuracy", "frontier": frontier(rows)}


def load_report(path: str | Path) -> dict[str, Any]:
    """A report from report.json, or built fresh from a run directory. Anything else is an InputError (exit 2)."""
    path = Path(path)
    if path.is_dir():
        if (path / "run.json").is_file():
            return build_report(path)
        if (path / REPORT_FILE).is_file():
            path = path / REPORT_FILE
        else:
            raise InputError(f"{path}: neither a run directory (run.json) nor a folder holding {REPORT_FILE}")
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such report or run directory") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a report (binary file)") from None
    except ValueError as e:
        raise InputError(f"{path}: corrupt report, not valid JSON ({e})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read report ({e.strerror or e})") from None
    return validate_report(data, path)


def validate_report(data: Any, path: Path | str) -> dict[str, Any]:
    """Check the schema version and the fields the gate relies on; a clear one-line error otherwise."""
    from pydantic import ValidationError

    from edgekit.report.schema import ReportModel

    if not isinstance(data, dict) or "schema" not in data:
        raise InputError(f"{path}: not an edgekit report (no 'schema' field)")
    if data["schema"] != SCHEMA:
        raise InputError(
            f"{path}: report schema {data['schema']!r} is not supported; this edgekit reads {SCHEMA!r} "
            f"(rebuild it with `edgekit report RUN_DIR`)"
        )
    try:
        ReportModel.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{path}: corrupt report: {where}: {err['msg']}") from None
    return data
