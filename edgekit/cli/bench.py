"""`edgekit bench MODEL.onnx ...` and `edgekit bundle RECIPE`: measure ONNX models where they will run.

Torch-free: imports only numpy, onnx, onnxruntime and edgekit.bench / edgekit.runtime."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgekit.cli.app import app, err, out
from edgekit.errors import CheckFailed, InputError


def parse_ints(text: str, what: str) -> list[int]:
    """"1,2,4" -> [1, 2, 4]; "sweep" (threads) -> 1, 2, 4, ... up to the usable cores."""
    if what == "--threads" and text == "sweep":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        vals = [1 << i for i in range(cores.bit_length()) if 1 << i <= cores]
        return vals + ([cores] if vals[-1] != cores else [])
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what} {text!r}: give comma-separated whole numbers, e.g. 1,2,4") from None
    if not vals or min(vals) < 1:
        raise InputError(f"{what} {text!r}: values must be 1 or more")
    return list(dict.fromkeys(vals))


def _mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.1f}"


def _count(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def results_table(doc: dict) -> Table:
    m = doc["machine"]
    table = Table(title=f"{m['cpu']} · {m['cores_usable']} cores · {','.join(m['isa']) or 'no SIMD flags'} · onnxruntime {m['onnxruntime']}")
    cols = ["model", "thr", "batch", "p50 ms [95% CI]", "p90", "p99", "cv", "items/s", "cold ms", "mem MB",
            "size MB", "params", "MACs", "accuracy", "vs ref [min–max]", "status"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "status") else "right")
    for r in doc["results"]:
        lat = r["latency_ms"]
        lo, hi = lat["ci95"]["p50"]
        ref = r["vs_reference"]
        acc = r["accuracy"]
        status = "[yellow]unstable[/]" if r["unstable"] else "[green]ok[/]"
        table.add_row(r["name"], str(r["threads"]), str(r["batch"]), f"{lat['p50']:.3f} [{lo:.3f}–{hi:.3f}]",
                      f"{lat['p90']:.3f}", f"{lat['p99']:.3f}", f"{lat['cv']:.2f}", f"{r['throughput_per_s']:.1f}",
                      f"{r['cold_start_ms']['total']:.0f}", _mb(r["memory"]["inference_bytes"]), _mb(r["size_bytes"]),
                      _count(r["params"]), _count(r["macs"]), "–" if acc is None else f"{acc['value'] * 100:.2f} %",
                      "–" if ref is None else f"{ref['p50_ratio']:.2f}× [{ref['min']:.2f}–{ref['max']:.2f}]", status)
    return table


def _recipe_dataset(path: Path):
    """The dataset a recipe's data: section names, loaded (torch-free) with its split settings and seed."""
    from edgekit import recipe as recipe_mod
    from edgekit.data import load_dataset
    from edgekit.data.sources import DataSourceError

    loaded = recipe_mod.load(path)
    try:
        return load_dataset(loaded.recipe.data, loaded.recipe.seed, loaded.file.parent)
    except DataSourceError as e:
        raise loaded.error(("data", e.key), e.message) from None


@app.command()
def bench(
    models: list[Path] = typer.Argument(..., help="ONNX model files; with several, they are measured in alternating rounds."),
    reference: int = typer.Option(None, "--reference", "-r", help="Position (1-based) of the model the others are compared to (default: the first, when there are several)."),
    threads: str = typer.Option("1", "--threads", "-t", help="onnxruntime intra-op threads: 1 | 1,2,4 | sweep (1, 2, 4, ... up to the usable cores)."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch sizes, e.g. 1,8 (throughput is reported per item)."),
    quick: bool = typer.Option(False, "--quick", help="Under a second per model: smoke tests, rough numbers."),
    thorough: bool = typer.Option(False, "--thorough", help="MLPerf-style floor (1024 queries, 60 s per model), repeated once if unstable."),
    repeat: int = typer.Option(None, "--repeat", min=0, max=10, help="Measure again up to this many times while a result is unstable."),
    inter_threads: int = typer.Option(1, "--inter-threads", min=1, max=256, help="onnxruntime inter-op threads (>1 runs independent graph branches in parallel)."),
    bundle: Path = typer.Option(None, "--bundle", help="Evaluation bundle (.npz from `edgekit bundle`): also measure accuracy."),
    recipe: Path = typer.Option(None, "--recipe", help="Also measure accuracy on this recipe's test split (needs the dataset here; a bundle does not)."),
    no_spinning: bool = typer.Option(False, "--no-spinning", help="Stop onnxruntime's threads from busy-waiting between ops (lower CPU use, usually slower)."),
    max_ci: float = typer.Option(None, "--max-ci", min=0, max=100, help="Unstable above this 95% CI half-width of p50, in % of p50 (default 3)."),
    max_drift: float = typer.Option(None, "--max-drift", min=0, max=1000, help="Unstable above this spread of per-round medians, in % of p50 (default 10)."),
    max_p90: float = typer.Option(None, "--max-p90", min=1, max=1000, help="Unstable when p90 exceeds this multiple of p50 (default 1.5)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any result is unstable or the run was throttled."),
    as_json: bool = typer.Option(False, "--json", help="Print the result document (schema edgekit.bench/1) on stdout."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the result document to this JSON file."),
    on: str = typer.Option(None, "--on", help="Measure on this device over SSH (user@host, a Host alias, or a name from devices.yaml); the result comes back here."),
    devices: Path = typer.Option(None, "--devices", help="Device inventory for --on (default: ./devices.yaml, then ~/.config/edgekit/devices.yaml)."),
    setup_device: bool = typer.Option(False, "--setup-device", help="With --on: allow creating a venv on the device and pip-installing edgekit's base dependencies there."),
):
    """Latency (p50/p90/p95/p99 with confidence intervals), throughput, cold start, memory, size, params, MACs
    and accuracy of ONNX models on this machine, each model in its own process. Torch-free."""
    from edgekit.bench import bench as run_bench, document, settings_for
    from edgekit.bench.bundle import bundle_from_dataset, save_bundle

    if quick and thorough:
        raise InputError("--quick and --thorough exclude each other")
    if bundle is not None and recipe is not None:
        raise InputError("--bundle and --recipe exclude each other: give one source of test samples")
    settings = settings_for("quick" if quick else "thorough" if thorough else "default", repeat=repeat,
                            max_ci_rel=None if max_ci is None else max_ci / 100,
                            max_round_spread=None if max_drift is None else max_drift / 100, max_p90_ratio=max_p90)
    if reference is not None and not 1 <= reference <= len(models):
        raise InputError(f"--reference {reference}: give a position from 1 to {len(models)}")
    ref = (reference - 1) if reference is not None else (0 if len(models) > 1 else None)
    thread_list, batch_list = parse_ints(threads, "--threads"), parse_ints(batch, "--batch")
    if on is not None:  # the same options, passed through to the harness on the device
        flags = {"--threads": threads, "--batch": batch, "--repeat": repeat, "--inter-threads": inter_threads,
                 "--reference": reference, "--max-ci": max_ci, "--max-drift": max_drift, "--max-p90": max_p90}
        switches = {"--quick": quick, "--thorough": thorough, "--no-spinning": no_spinning}
        remote_args = [a for k, v in flags.items() if v is not None for a in (k, str(v))] + [k for k, v in switches.items() if v]
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        if recipe is not None:
            bundle = Path(tmp) / "test.npz"
            save_bundle(bundle, *bundle_from_dataset(_recipe_dataset(recipe)))
        if on is not None:
            doc = _bench_on(on, devices, models, remote_args, bundle, setup_device, output)
        else:
            with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=err, transient=True) as bar:
                task = bar.add_task("benchmarking", total=None)
                result = run_bench(models, threads=thread_list, batches=batch_list, settings=settings, reference=ref,
                                   bundle=bundle, spinning=not no_spinning, inter_threads=inter_threads,
                                   progress=lambda what, done, total: bar.update(task, description=what, completed=done, total=total))
            doc = document(result)
    if output is not None and on is None:  # a device's result is saved by _bench_on, failed or not
        from edgekit.fsutil import write_json

        write_json(output, doc)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        out.print(results_table(doc))
    unstable = [f"{r['name']} ({r['threads']}t, batch {r['batch']}): {'; '.join(r['unstable_reasons'])}"
                for r in doc["results"] if r["unstable"]]
    for line in unstable:
        err.print(f"[yellow]unstable:[/] {line}", highlight=False)
    for line in doc["invalid_reasons"]:
        err.print(f"[red]invalid run:[/] {line}", highlight=False)
    if strict and (unstable or doc["invalid_reasons"]):
        raise CheckFailed(f"{len(unstable)} unstable result(s), {len(doc['invalid_reasons'])} throttling event(s); see above")


def _bench_on(on: str, devices: Path | None, models: list[Path], args: list[str], bundle: Path | None,
              setup: bool, output: Path | None) -> dict:
    from edgekit.bench.devices import resolve_device
    from edgekit.bench.remote import bench_and_keep

    device = resolve_device(on, devices)
    with err.status(f"connecting to {device.name}") as status:
        doc, kept = bench_and_keep(device, models, args, bundle=bundle, setup=setup, output=output,
                                   progress=lambda what: status.update(what))
    for path in kept:
        err.print(f"{device.name}: result saved in {path}", highlight=False, soft_wrap=True)
    return doc


@app.command()
def bundle(
    recipe: Path = typer.Argument(..., help="Recipe whose data: section names the dataset."),
    output: Path = typer.Option(..., "--output", "-o", help="Bundle file to write (.npz)."),
    limit: int = typer.Option(None, "--limit", min=1, help="At most this many test samples (a seeded random subset)."),
):
    """Export a recipe's test split as an evaluation bundle, so `edgekit bench --bundle` can measure accuracy on a
    device with no dataset loader (numpy + onnxruntime only)."""
    from edgekit.bench.bundle import bundle_from_dataset, save_bundle

    ds = _recipe_dataset(recipe)
    x, y, pre = bundle_from_dataset(ds, limit)
    save_bundle(output, x, y, pre)
    out.print(f"{output}: {len(y)} test samples of '{ds.name}' ({len(ds.classes)} classes), "
              f"{output.stat().st_size / 1e6:.1f} MB", soft_wrap=True, highlight=False)
