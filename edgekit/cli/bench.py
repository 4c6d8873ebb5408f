"""`edgekit bench MODEL.onnx ...`: measure ONNX models where they will run (here, or on a device with --on).

A thin command: options are read by edgekit.cli.bench_args, the harness is edgekit.bench, and the table and notes
are rendered by edgekit.bench.table (numbers by edgekit.units). Torch-free: imports only numpy, onnx, onnxruntime
and edgekit.bench / edgekit.runtime."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from edgekit.cli.app import app, err, out
from edgekit.errors import CheckFailed, InputError, Interrupted
from edgekit.fsutil import check_output_file
from edgekit.progress import progress
from edgekit.bench.table import notes, results_table  # noqa: F401  (the renderer; tests and callers read it here too)
from edgekit.cli.bench_args import check_threads, device_args, parse_ints, recipe_dataset, run_models


@app.command()
def bench(
    models: list[Path] = typer.Argument(
        ...,
        metavar="MODEL_OR_RUN_DIR...",
        help="ONNX model files, or a run directory (all its ONNX artifacts); "
        "several are measured in alternating rounds.",
    ),
    reference: int = typer.Option(
        None,
        "--reference",
        "-r",
        help="Position (1-based) of the model the others are compared to (default: the first, when there are several).",
    ),
    threads: str = typer.Option(
        "1",
        "--threads",
        "-t",
        help="onnxruntime intra-op threads: 1 | 1,2,4 | sweep (1, 2, 4, ... up to the usable cores).",
    ),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch sizes, e.g. 1,8 (throughput is reported per item)."),
    quick: bool = typer.Option(
        False, "--quick", help="Under a second per model: smoke tests, rough numbers.", metavar=""
    ),
    thorough: bool = typer.Option(
        False,
        "--thorough",
        help="MLPerf-style floor (1024 queries, 60 s per model), repeated once if unstable.",
        metavar="",
    ),
    repeat: int = typer.Option(
        None, "--repeat", min=0, max=10, help="Measure again up to this many times while a result is unstable."
    ),
    inter_threads: int = typer.Option(
        1,
        "--inter-threads",
        min=1,
        max=256,
        help="onnxruntime inter-op threads (>1 runs independent graph branches in parallel).",
    ),
    bundle: Path = typer.Option(
        None, "--bundle", help="Evaluation bundle (.npz from `edgekit bundle`): also measure accuracy."
    ),
    recipe: Path = typer.Option(
        None,
        "--recipe",
        help="Also measure accuracy on this recipe's test split (needs the dataset here; a bundle does not).",
    ),
    no_spinning: bool = typer.Option(
        False,
        "--no-spinning",
        help="Stop onnxruntime's threads from busy-waiting between ops (lower CPU use, usually slower).",
        metavar="",
    ),
    max_ci: float = typer.Option(
        None, "--max-ci", min=0, max=100, help="Unstable at or above this p50 95% CI half-width, % of p50 (default 3)."
    ),
    max_drift: float = typer.Option(
        None,
        "--max-drift",
        min=0,
        max=1000,
        help="Unstable above this spread of per-round medians, in % of p50 (default 10).",
    ),
    max_p90: float = typer.Option(
        None, "--max-p90", min=1, max=1000, help="Unstable when p90 exceeds this multiple of p50 (default 1.5)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 if any result is unstable or the run was throttled.", metavar=""
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result document (schema edgekit.bench/1) on stdout.", metavar=""
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the result document to this JSON file."),
    on: str = typer.Option(
        None,
        "--on",
        help="Measure on this device over SSH (user@host, a Host alias, or a name from devices.yaml); "
        "the result comes back here.",
    ),
    devices: Path = typer.Option(
        None,
        "--devices",
        help="Device inventory for --on (default: ./devices.yaml, then ~/.config/edgekit/devices.yaml).",
    ),
    setup_device: bool = typer.Option(
        False,
        "--setup-device",
        help="With --on: allow creating a venv on the device and pip-installing edgekit's base dependencies there.",
    ),
):
    """Latency (p50/p90/p95/p99 with confidence intervals), throughput, cold start, memory, size, params, MACs
    and accuracy of ONNX models on this machine, each model in its own process. Torch-free."""
    from edgekit.bench import bench as run_bench, document, settings_for
    from edgekit.bench.bundle import bundle_from_dataset, save_bundle

    if quick and thorough:
        raise InputError("--quick and --thorough exclude each other")
    if bundle is not None and recipe is not None:
        raise InputError("--bundle and --recipe exclude each other: give one source of test samples")
    output = check_output_file(output, "--output")  # before minutes of measuring, not after
    models = run_models(models)
    settings = settings_for(
        "quick" if quick else "thorough" if thorough else "default",
        repeat=repeat,
        max_ci_rel=None if max_ci is None else max_ci / 100,
        max_round_spread=None if max_drift is None else max_drift / 100,
        max_p90_ratio=max_p90,
    )
    if reference is not None and not 1 <= reference <= len(models):
        raise InputError(f"--reference {reference}: give a position from 1 to {len(models)}")
    ref = (reference - 1) if reference is not None else (0 if len(models) > 1 else None)
    thread_list, batch_list = parse_ints(threads, "--threads"), parse_ints(batch, "--batch")
    if on is None:
        check_threads(thread_list)  # a device's own cores are checked there
    else:  # the same options, passed through to the harness on the device
        flags: dict[str, object] = {
            "--threads": threads,
            "--batch": batch,
            "--repeat": repeat,
            "--inter-threads": inter_threads,
            "--reference": reference,
            "--max-ci": max_ci,
            "--max-drift": max_drift,
            "--max-p90": max_p90,
        }
        remote_args = device_args(flags, {"--quick": quick, "--thorough": thorough, "--no-spinning": no_spinning})
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
            if recipe is not None:
                bundle = Path(tmp) / "test.npz"
                save_bundle(bundle, *bundle_from_dataset(recipe_dataset(recipe)))
            if on is not None:
                doc = _bench_on(on, devices, models, remote_args, bundle, setup_device, output)
            else:
                with progress(
                    err,
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(),
                    transient=True,
                ) as bar:
                    task = bar.add_task("benchmarking", total=None)
                    result = run_bench(
                        models,
                        threads=thread_list,
                        batches=batch_list,
                        settings=settings,
                        reference=ref,
                        bundle=bundle,
                        spinning=not no_spinning,
                        inter_threads=inter_threads,
                        progress=lambda what, done, total: bar.update(
                            task, description=what, completed=done, total=total
                        ),
                    )
                doc = document(result)
    except KeyboardInterrupt:
        raise Interrupted("benchmark interrupted; nothing was written") from None
    if output is not None and on is None:  # a device's result is saved by _bench_on, failed or not
        from edgekit.fsutil import write_json

        write_json(output, doc)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        out.print(results_table(doc, out.width))
    for line in notes(doc):  # unstable results, two speeds, throttling: on stderr, below the table
        err.print(line, highlight=False)
    unstable = [r for r in doc["results"] if r["unstable"]]
    if strict and (unstable or doc["invalid_reasons"]):
        raise CheckFailed(
            f"{len(unstable)} unstable result(s), {len(doc['invalid_reasons'])} throttling event(s); see above"
        )


def _bench_on(
    on: str,
    devices: Path | None,
    models: list[Path],
    args: list[str],
    bundle: Path | None,
    setup: bool,
    output: Path | None,
) -> dict:
    from edgekit.bench.devices import resolve_device
    from edgekit.bench.remote import bench_and_keep

    device = resolve_device(on, devices)
    with err.status(f"connecting to {device.name}") as status:
        doc, kept = bench_and_keep(
            device, models, args, bundle=bundle, setup=setup, output=output, progress=lambda what: status.update(what)
        )
    for path in kept:
        err.print(f"{device.name}: result saved in {path}", highlight=False, soft_wrap=True)
    return doc
