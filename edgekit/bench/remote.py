"""``edgekit bench --on DEVICE``: the benchmark harness run on another machine over SSH, its result brought back.

    host                                      device (reached with the system ssh; keys from agent/config)
    probe   ssh   arch, free disk, a python with edgekit's base install, edgekit's source already there?
    setup   ssh   only with --setup-device (consent): python3 -m venv + pip install the base dependencies
    copy    ssh   one tar stream: edgekit's own source (by content hash), the ONNX files, the bundle
    run     ssh   python -m edgekit bench FILES --json   (the same harness and flags as on the host)
    back          the device's result document, with the device's machine fingerprint

The ssh transport is edgekit.bench.ssh (host keys checked as the user's config says, BatchMode); probe, setup and
the source archive are edgekit.bench.provision. The device runs exactly the host's edgekit source, so host and
device numbers come from the same code. Any failure after the probe is kept as a
``status: failed`` record with what was known (machine, stderr), never as an ok result.

    >>> doc = bench_on(resolve_device("pi@raspberrypi.local"), [Path("int8.onnx")], ["--quick"])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from edgekit import __version__
from edgekit.bench.devices import DEFAULT_VENV, Device
from edgekit.bench.provision import DeviceFailed, Progress, probe, source_archive
from edgekit.bench.provision import setup as setup_device
from edgekit.bench.ssh import SSH_LOST, Ssh, connection_problem, last_line, rpath
from edgekit.bench.harness import display_name
from edgekit.bench.schema import SCHEMA
from edgekit.errors import InputError
from edgekit.fsutil import write_json

DISK_MARGIN = 1.2  # room for the result files and the unpacked source next to the copies


def _remote_names(models: Sequence[Path]) -> dict[Path, str]:
    """A distinct file name on the device per model, named so its results read as they do on the host."""
    names: dict[Path, str] = {}
    for m in dict.fromkeys(models):
        base, n = display_name(m), 1
        name = f"{base}.onnx"
        while name in names.values():
            n += 1
            name = f"{base}-{n}.onnx"
        names[m] = name
    return names


def bench_on(
    dev: Device,
    models: Sequence[Path],
    bench_args: Sequence[str],
    *,
    bundle: Path | None = None,
    setup: bool = False,
    timeout_s: float = 3600,
    progress: Progress = lambda what: None,
) -> dict:
    """Benchmark ``models`` on ``dev`` with ``edgekit bench`` options ``bench_args``; the device's result document.

    Raises DeviceFailed (with ``record``, the failed document to keep) when the device fails after the probe."""
    models = [Path(m) / "model.onnx" if Path(m).is_dir() else Path(m) for m in models]
    for p in [*models, *([bundle] if bundle else [])]:
        if not p.is_file():
            raise InputError(f"{p}: no such file")
    ssh, python = Ssh(dev), dev.python or f"{DEFAULT_VENV}/bin/python"
    src, src_id = source_archive()
    started = time.monotonic()
    progress(f"connecting to {dev.name} ({dev.host})")
    facts = probe(ssh, dev, python, src_id)
    if facts.get("deps") != "ok":
        if not setup or dev.python:
            raise InputError(
                f"device {dev.name} ({dev.host}): no python with edgekit's base install at {python}; rerun with "
                f"--setup-device to create {DEFAULT_VENV} there (pip install over the device's internet)"
                if not dev.python
                else f"device {dev.name}: {python} lacks edgekit's base install "
                f"(pip install numpy onnx onnxruntime typer pyyaml pydantic rich)"
            )
        setup_device(ssh, dev, progress)
    names = _remote_names(models)
    run_id = (
        f"run-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:6]}"
    )
    record = {
        "schema": SCHEMA,
        "edgekit": __version__,
        "status": "failed",
        "valid": False,
        "machine": None,
        "device": {
            "name": dev.name,
            "host": dev.host,
            "arch": facts.get("arch"),
            "edgekit_source": src_id,
            "run": run_id,
            "models": {names[m]: str(m.resolve()) for m in models},
        },
        "results": [],
    }

    def failed(message: str, res: subprocess.CompletedProcess | None = None) -> DeviceFailed:
        record.update(
            error=message,
            invalid_reasons=[message],
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            stderr_tail=res.stderr.decode(errors="replace")[-2000:] if res is not None else None,
        )
        record["device"]["wall_s"] = round(time.monotonic() - started, 1)
        return DeviceFailed(message, record)

    need = sum(p.stat().st_size for p in [*models, *([bundle] if bundle else [])]) + len(src) * 4
    free = int(facts.get("free_kb") or 0) * 1024
    if facts.get("free_kb") and free < need * DISK_MARGIN:
        raise failed(
            f"device {dev.name}: only {free / 1e6:.1f} MB free in {dev.dir}, the models and bundle need "
            f"{need * DISK_MARGIN / 1e6:.1f} MB; free some space or set dir: in devices.yaml"
        )

    progress(f"copying {len(models)} model(s){' and the bundle' if bundle else ''} to {dev.name}")
    files: dict[str, Path | bytes] = {f"{run_id}/{n}": m for m, n in names.items()}
    if bundle:
        files[f"{run_id}/bundle.npz"] = bundle
    if facts.get("src") != "ok":
        files[f"src-{src_id}.tar.gz"] = src
    unpack = (
        f"tar -xzf src-{src_id}.tar.gz -C src-{src_id}.tmp && touch src-{src_id}.tmp/.ok && rm -rf src-{src_id} "
        f"&& mv src-{src_id}.tmp src-{src_id} && rm src-{src_id}.tar.gz"
    )
    try:
        res = ssh.send(
            f"set -e; cd {rpath(dev.dir)}; tar -xf -; "
            + (f"rm -rf src-{src_id}.tmp; mkdir src-{src_id}.tmp; {unpack}" if facts.get("src") != "ok" else "true"),
            files,
            timeout_s,
        )
    except TimeoutError as e:
        raise failed(f"device {dev.name}: copying timed out ({e})") from None
    if res.returncode != 0:
        space = "No space left on device" in res.stderr.decode(errors="replace")
        raise failed(
            f"device {dev.name}: disk full in {dev.dir} while copying the models"
            if space
            else connection_problem(dev, res, "copying the models failed"),
            res,
        )

    progress(f"measuring on {dev.name}")
    argv = [*names.values(), *(["--bundle", "bundle.npz"] if bundle else []), *bench_args, "--json"]
    cool = f"sleep {dev.cooldown_s:g}; " if dev.cooldown_s else ""
    # the fingerprint first, on its own line, so a run that dies later still says which machine it was
    script = (
        f'cd {rpath(dev.dir)}/{run_id} && {cool}export PYTHONPATH="$PWD/../src-{src_id}" && P={rpath(python)} && '
        f"\"$P\" -c 'import json; from edgekit.bench.system import fingerprint; print(json.dumps(fingerprint()))' && "
        f'"$P" -m edgekit bench {" ".join(shlex.quote(a) for a in argv)}; rc=$?; cd .. && rm -rf {run_id}; exit $rc'
    )
    try:
        res = ssh.run(script, timeout_s)
    except TimeoutError as e:
        raise failed(f"device {dev.name}: the benchmark timed out ({e}); nothing was measured") from None
    first, _, rest = res.stdout.decode(errors="replace").partition("\n")
    try:
        record["machine"] = json.loads(first)
    except ValueError:
        pass
    if res.returncode == SSH_LOST:
        raise failed(
            f"device {dev.name} ({dev.host}): connection lost during the benchmark "
            f"({last_line(res.stderr)}); no result came back",
            res,
        )
    try:
        doc = json.loads(rest)
    except ValueError:
        space = "No space left on device" in res.stderr.decode(errors="replace")
        raise failed(
            f"device {dev.name}: disk full in {dev.dir} during the benchmark"
            if space
            else f"device {dev.name}: edgekit bench failed there with exit {res.returncode}: {last_line(res.stderr)}",
            res,
        ) from None
    by_name = {n: m for m, n in names.items()}
    for r in doc.get("results", []):
        r["local_model"] = str(by_name[Path(r["model"]).name].resolve()) if Path(r["model"]).name in by_name else None
    doc["status"] = "ok"
    doc["device"] = {**record["device"], "wall_s": round(time.monotonic() - started, 1), "exit_code": res.returncode}
    return doc


def run_dir_of(models: Sequence[Path]) -> Path | None:
    """The run directory all models come from (RUN/stages/<id>/model.onnx, RUN/run.json), or None."""
    dirs = set()
    for m in models:
        m = Path(m).resolve()
        stage_dir = m if m.is_dir() else m.parent
        run = stage_dir.parent.parent
        if stage_dir.parent.name != "stages" or not (run / "run.json").is_file():
            return None
        dirs.add(run)
    return dirs.pop() if len(dirs) == 1 else None


def bench_and_keep(
    dev: Device,
    models: Sequence[Path],
    bench_args: Sequence[str],
    *,
    bundle: Path | None = None,
    setup: bool = False,
    output: Path | None = None,
    progress: Progress = lambda what: None,
) -> tuple[dict, list[Path]]:
    """``bench_on``, with its result saved to ``output`` and, when the models come from one run directory, to
    RUN_DIR/devices/<device>.json (where the report finds it). A failed run is saved as its failed record first."""
    run_dir = run_dir_of(models)
    keep = [p for p in (output, run_dir / "devices" / f"{dev.name}.json" if run_dir else None) if p is not None]
    try:
        doc = bench_on(dev, models, bench_args, bundle=bundle, setup=setup, progress=progress)
    except DeviceFailed as e:
        if e.record is None or not keep:
            raise
        for path in keep:
            write_json(path, e.record)
        raise DeviceFailed(f"{e.message}; failed record saved in {', '.join(map(str, keep))}", e.record) from None
    for path in keep:
        write_json(path, doc)
    return doc, keep
