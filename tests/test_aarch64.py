"""The torch-free runtime on aarch64, without a Pi: edgekit's base install from aarch64 wheels in an arm64 Debian
root run by qemu-user (tests/aarch64_root.py), measuring a real fp32 and INT8 file with `edgekit bench --bundle`.

Wall time on a 2-core x86_64 VM (measured): 4 min 47 s warm, with the root and its venv cached in
/var/cache/edgekit/aarch64/ (reinstalling edgekit's wheel 29 s, the tiny training run, the emulated
`bench --quick` of two files on 500 samples 150 s, now on a 100-sample bundle); cold adds debootstrap (~6 min) and
the venv (~3 min)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import aarch64_root
from device_run import device_bundle, device_run, stage_model
from edgekit.report.build import build_report

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "qemu-aarch64"


def _bench_json(cmd: list[str], env: dict) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


@pytest.mark.slow
def test_base_install_benches_int8_and_fp32_on_emulated_aarch64(tmp_path_factory, tmp_path, record_property):
    why = aarch64_root.missing_requirements()
    if why:
        pytest.skip(why)
    started = time.monotonic()
    root, python = aarch64_root.prepare(tmp_path / "build.log")
    prepared_s = time.monotonic() - started
    run_dir, _ = device_run(tmp_path_factory)
    bundle = device_bundle(tmp_path_factory, limit=100)  # 100 samples prove the parity 500 did, in a fifth of the time
    models = {"export": stage_model(run_dir, "export"), "int8": stage_model(run_dir, "int8")}
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    host = _bench_json(
        [
            sys.executable,
            "-m",
            "edgekit",
            "bench",
            *map(str, models.values()),
            "--bundle",
            str(bundle),
            "--quick",
            "--json",
        ],
        env,
    )

    work = f"/tmp/edgekit-{uuid.uuid4().hex[:8]}"  # as seen inside the root
    (root / work.lstrip("/")).mkdir(parents=True)
    try:
        for name, path in models.items():
            shutil.copy(path, root / work.lstrip("/") / f"{name}.onnx")
        shutil.copy(bundle, root / work.lstrip("/") / "eval.npz")
        bench_started = time.monotonic()
        clean = {k: v for k, v in env.items() if k != "PYTHONPATH"}  # the root's own edgekit, from its wheel
        with aarch64_root.Mounted(root):
            emu = _bench_json(
                [
                    "chroot",
                    str(root),
                    python,
                    "-m",
                    "edgekit",
                    "bench",
                    f"{work}/export.onnx",
                    f"{work}/int8.onnx",
                    "--bundle",
                    f"{work}/eval.npz",
                    "--quick",
                    "--json",
                ],
                clean,
            )
        bench_s = time.monotonic() - bench_started
    finally:
        shutil.rmtree(root / work.lstrip("/"), ignore_errors=True)

    m = emu["machine"]
    assert m["arch"] == "aarch64" and m["emulated"] and "qemu-user" in m["emulated"]
    assert m["cpu"].startswith("emulated aarch64") and m["isa"] == ["neon"]  # not the host's "AMD EPYC ... avx2"
    assert not emu["valid"] and any("latencies are meaningless" in r for r in emu["invalid_reasons"])
    by_file = {r["model"]: r["accuracy"] for r in host["results"]}
    host_acc = {name: by_file[str(path)] for name, path in models.items()}
    emu_acc = {r["name"]: r["accuracy"] for r in emu["results"]}
    assert emu_acc["export"] == host_acc["export"]  # fp32: the same predictions on both CPUs, to the sample
    assert emu_acc["int8"]["samples"] == host_acc["int8"]["samples"] == 100

    # into the run's report, as a device: INT8's accuracy on aarch64 next to x86's, with the reason they differ
    for r in emu["results"]:
        r["local_model"] = str(models[Path(r["model"]).stem].resolve())
    emu.update(status="ok", device={"name": DEVICE, "host": "chroot"})
    (run_dir / "devices").mkdir(exist_ok=True)
    (run_dir / "devices" / f"{DEVICE}.json").write_text(json.dumps(emu))
    report = build_report(run_dir)
    arts = {a["id"]: a for a in report["artifacts"]}
    fp32, int8 = arts["export"]["devices"][DEVICE], arts["int8"]["devices"][DEVICE]
    # the run's evaluate measured 500 test samples, the device 100 of them: the report says so, and fp32 stays within
    # that noise (its parity to the sample is the bench-to-bench comparison above, on the same 100)
    cmp = fp32["accuracy_vs_host"]
    assert "not the same samples" in cmp["note"] and not cmp["beyond_noise"]
    assert fp32["emulated"] and fp32["measurement_valid"] is False
    assert "integer kernels differ" in int8["accuracy_vs_host"]["note"]
    int8_diff = int8["accuracy_vs_host"]["difference_pt"]
    for key, value in (
        ("prepare_s", round(prepared_s)),
        ("emulated_bench_s", round(bench_s)),
        ("int8_x86_pct", host_acc["int8"]["value"] * 100),
        ("int8_aarch64_pct", emu_acc["int8"]["value"] * 100),
        ("int8_difference_pt", int8_diff),
        ("fp32_pct", emu_acc["export"]["value"] * 100),
    ):
        record_property(key, value)
    print(
        f"\naarch64 (emulated): prepare {prepared_s:.0f} s, bench {bench_s:.0f} s; "
        f"fp32 {emu_acc['export']['value']:.4f} on both; "
        f"INT8 x86 {host_acc['int8']['value']:.4f} vs aarch64 {emu_acc['int8']['value']:.4f} ({int8_diff:+.2f} pt)"
    )
