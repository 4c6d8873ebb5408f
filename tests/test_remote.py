"""`edgekit bench --on`: the harness run on another machine over SSH, against a real OpenSSH server on 127.0.0.1
(throwaway host and user keys, strict host key checking), and emulation detection for the fingerprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sshd as sshd_mod
from edgekit.bench.bundle import save_bundle
from edgekit.bench.system import emulation, fingerprint
from test_bench import _cli as bench_cli
from test_bench import conv_net

ROOT = Path(__file__).resolve().parents[1]
EPYC = {"vendor_id": "AuthenticAMD", "model name": "AMD EPYC 7B13 64-Core Processor", "flags": "fpu sse avx2"}
CORTEX_A72 = {"processor": "0", "Features": "fp asimd evtstrm crc32 cpuid", "CPU implementer": "0x41"}


def test_emulation_is_detected_from_a_foreign_cpuinfo():
    # what qemu-user shows an aarch64 python on this x86 host: the host's cpuinfo
    why = emulation("aarch64", EPYC)
    assert why is not None and "qemu-user" in why and "aarch64" in why and "AMD EPYC" in why
    assert emulation("aarch64", CORTEX_A72) is None  # a real Pi
    assert emulation("x86_64", EPYC) is None  # this machine, natively
    assert emulation("aarch64", {}) is None  # nothing known: never claim emulation
    fp = fingerprint()
    assert "emulated" not in fp and "emulated" not in fp["cpu"]  # native: the fingerprint (and its id) unchanged


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    why = sshd_mod.missing_requirements()
    if why:
        pytest.skip(why)
    srv = sshd_mod.Sshd(tmp_path_factory.mktemp("sshd")).start()
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("remote-models")
    small, big = conv_net(d / "small.onnx", 4), conv_net(d / "big.onnx", 48)
    rng = np.random.default_rng(1)
    pre = {
        "kind": "image",
        "mean": [0.5],
        "std": [0.25],
        "input_shape": [1, 28, 28],
        "classes": [str(i) for i in range(10)],
    }
    save_bundle(d / "eval.npz", rng.integers(0, 256, (200, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 200), pre)
    return small, big, d / "eval.npz"


def _inventory(path: Path, ssh_config: Path, remote_dir: Path, python: str = sys.executable, **extra) -> Path:
    dev = {"host": "testdev", "ssh_config": str(ssh_config), "python": python, "dir": str(remote_dir), **extra}
    path.write_text(json.dumps({"testdev": dev}))  # JSON is YAML
    return path


def _cli(args: list[str], **kw):
    # this tree first; the session's PYTHONPATH after it (tests/modulecheck.py records the CLI's imports through it)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), COLUMNS="200"
    )
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, env=env, timeout=300, **kw
    )


def test_unknown_host_key_is_refused(server, files, tmp_path):
    config = server.client_config("empty_known_hosts", "ssh_config_unknown")
    inv = _inventory(tmp_path / "devices.yaml", config, tmp_path / "remote")
    res = _cli(["bench", str(files[0]), "--quick", "--on", "testdev", "--devices", str(inv)])
    assert res.returncode == 1, res.stderr
    assert "Host key verification failed" in res.stderr and "known_hosts" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "remote").exists()  # refused before running anything there


def test_device_without_edgekits_dependencies_is_bad_input(server, files, tmp_path):
    inv = _inventory(tmp_path / "devices.yaml", server.ssh_config, tmp_path / "remote", python="/nonexistent/python3")
    res = _cli(["bench", str(files[0]), "--quick", "--on", "testdev", "--devices", str(inv)])
    assert res.returncode == 2 and "lacks edgekit's base install" in res.stderr and "Traceback" not in res.stderr


def test_bad_inventory_names_file_line_and_key(tmp_path, files):
    inv = tmp_path / "devices.yaml"
    inv.write_text("pi4:\n  host: pi@10.0.0.4\n  pyhton: /usr/bin/python3\n")
    # with torch unimportable: --on is part of the torch-free base install
    res = bench_cli(["bench", str(files[0]), "--on", "pi4", "--devices", str(inv)], tmp_path, block_torch=True)
    assert res.returncode == 2 and f"{inv}:3" in res.stderr and "did you mean 'python'" in res.stderr


@pytest.mark.slow
def test_bench_on_device_brings_back_its_result(server, files, tmp_path):
    small, big, bundle = files
    remote = tmp_path / "remote"
    inv = _inventory(tmp_path / "devices.yaml", server.ssh_config, remote)
    out = tmp_path / "device.json"
    res = _cli(
        [
            "bench",
            str(small),
            str(big),
            "--bundle",
            str(bundle),
            "--quick",
            "--on",
            "testdev",
            "--devices",
            str(inv),
            "-o",
            str(out),
            "--json",
        ]
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == json.loads(out.read_text())
    assert doc["status"] == "ok" and doc["schema"] == "edgekit.bench/1" and doc["device"]["name"] == "testdev"
    assert doc["machine"]["arch"] == fingerprint()["arch"] and doc["machine"]["onnxruntime"]
    assert [r["name"] for r in doc["results"]] == ["small", "big"]
    assert [r["local_model"] for r in doc["results"]] == [str(small.resolve()), str(big.resolve())]
    assert all(r["accuracy"]["samples"] == 200 for r in doc["results"])
    assert doc["results"][1]["vs_reference"]["p50_ratio"] > 1  # 48 channels vs 4: measured, not copied
    # it ran there: the host's edgekit source was unpacked in the device's folder, the run folder cleaned up
    [src] = remote.glob("src-*")
    assert (src / ".ok").is_file() and (src / "edgekit" / "bench" / "remote.py").is_file()
    assert not list(remote.glob("run-*"))
    assert "ssh" not in json.dumps(doc["device"]).lower()  # no key paths or ssh settings in the result


def _bench_worker_in(folder: Path) -> bool:
    """An `edgekit.bench.worker` process runs with its working directory under ``folder``."""
    for p in Path("/proc").iterdir():
        try:
            if b"edgekit.bench.worker" in (p / "cmdline").read_bytes() and os.readlink(p / "cwd").startswith(
                str(folder.resolve())
            ):
                return True
        except OSError:  # not a process, or one that ended meanwhile
            continue
    return False


@pytest.mark.slow
def test_device_that_goes_away_mid_run_leaves_a_failed_record(tmp_path, files):
    why = sshd_mod.missing_requirements()
    if why:
        pytest.skip(why)
    (tmp_path / "sshd").mkdir()
    srv = sshd_mod.Sshd(tmp_path / "sshd").start()
    remote = tmp_path / "remote"
    inv = _inventory(tmp_path / "devices.yaml", srv.ssh_config, remote)
    out = tmp_path / "device.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # the default preset measures for 5 s per model: long enough to pull the plug in the middle
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgekit",
            "bench",
            str(files[1]),
            "--on",
            "testdev",
            "--devices",
            str(inv),
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # pull the plug once a harness worker runs there (the "device" is this machine): the copy is done and the
        # fingerprint sent, whatever the load; a fixed 2.5 s after the copy began was still copying on a busy core
        deadline = time.monotonic() + 600
        while not _bench_worker_in(remote) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        srv.kill()
        _, stderr = proc.communicate(timeout=120)
    finally:
        srv.kill()
        proc.kill()
    assert proc.returncode == 1, stderr
    assert (
        "connection lost during the benchmark" in stderr
        and "failed record saved" in stderr
        and "Traceback" not in stderr
    )
    record = json.loads(out.read_text())
    assert record["status"] == "failed" and record["valid"] is False and record["results"] == []
    assert "connection lost" in record["error"] and record["machine"]["arch"]  # which machine, though it failed


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a 1 MB tmpfs as the device's disk")
def test_full_device_disk_is_a_clear_failure(server, files, tmp_path):
    small, _, _ = files
    remote = tmp_path / "remote"
    remote.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(remote)], check=True)
    try:
        big_bundle = tmp_path / "big.npz"
        rng = np.random.default_rng(0)
        pre = {
            "kind": "image",
            "mean": [0.5],
            "std": [0.25],
            "input_shape": [1, 28, 28],
            "classes": [str(i) for i in range(10)],
        }
        save_bundle(big_bundle, rng.integers(0, 256, (3000, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 3000), pre)
        inv = _inventory(tmp_path / "devices.yaml", server.ssh_config, remote)
        out = tmp_path / "device.json"
        res = _cli(
            [
                "bench",
                str(small),
                "--bundle",
                str(big_bundle),
                "--quick",
                "--on",
                "testdev",
                "--devices",
                str(inv),
                "-o",
                str(out),
            ]
        )
    finally:
        subprocess.run(["umount", "-l", str(remote)], check=False)
    assert res.returncode == 1 and "MB free" in res.stderr and "Traceback" not in res.stderr
    assert json.loads(out.read_text())["status"] == "failed"


@pytest.mark.slow
def test_device_numbers_appear_in_the_report_and_gate_it(server, tmp_path_factory, tmp_path):
    from device_run import device_run, stage_model

    run_dir, bundle = device_run(tmp_path_factory)
    inv = _inventory(tmp_path / "devices.yaml", server.ssh_config, tmp_path / "remote")
    models = [stage_model(run_dir, "export"), stage_model(run_dir, "int8")]
    res = _cli(
        ["bench", *map(str, models), "--bundle", str(bundle), "--quick", "--on", "testdev", "--devices", str(inv)]
    )
    assert res.returncode == 0, res.stderr
    assert (run_dir / "devices" / "testdev.json").is_file() and "result saved in" in res.stderr
    assert _cli(["report", str(run_dir)]).returncode == 0
    report = json.loads((run_dir / "report.json").read_text())
    dev = next(d for d in report["devices"] if d["name"] == "testdev")  # the aarch64 test may add its own
    assert dev["name"] == "testdev" and dev["status"] == "ok" and dev["machine"] in report["machines"]
    for art in (a for a in report["artifacts"] if a["id"] in ("export", "int8")):
        d = art["devices"]["testdev"]
        # same machine, same code, same 500 samples: the device's accuracy is the host's, to the sample
        assert d["accuracy"] == art["accuracy"] and d["test_samples"] == art["test_samples"] == 500
        assert d["accuracy_vs_host"]["difference_pt"] == 0 and not d["accuracy_vs_host"]["beyond_noise"]
        assert d["latency_ms"]["p50"] > 0 and d["machine"] == dev["machine"]
    assert "## Devices" in (run_dir / "report.md").read_text()
    shipped = next(a for a in report["artifacts"] if a["id"] == report["final"])  # the artifact budgets apply to
    acc = shipped["devices"]["testdev"]["accuracy"] * 100
    for device, limit, want in (("testdev", acc - 0.01, 0), ("testdev", acc + 0.01, 1), ("pi4", 0, 1)):
        budgets = tmp_path / "budgets.yaml"
        budgets.write_text(f"device: {device}\nmin_accuracy_pct: {limit}\n")
        res = _cli(["check", str(run_dir), "--budgets", str(budgets)])
        assert res.returncode == want, res.stdout + res.stderr
        if device == "pi4":
            assert "no result from device 'pi4'" in res.stdout


def _report_with_device(device: dict | None, summary: dict) -> dict:
    art = {
        "id": "int8",
        "kind": "quantize",
        "accuracy": 0.90,
        "test_samples": 2000,
        "size_bytes": 10**6,
        "latency_ms": {"p50": 5.0},
        "machine": "host0000",
        "unstable": False,
        "measurement_valid": True,
        "invalid_reasons": [],
        "devices": {"pi4": device} if device else {},
    }
    return {"artifacts": [art], "final": "int8", "reference": "int8", "baselines": [], "devices": [summary], "run": {}}


def test_gate_naming_a_device_uses_its_numbers_and_its_throttling():
    from edgekit.recipe.budgets import Budgets
    from edgekit.report.check import check
    from edgekit.report.devices import accuracy_vs_host

    throttled = {
        "machine": "pi4aaaaaaaa",
        "emulated": False,
        "status": "ok",
        "accuracy": 0.892,
        "test_samples": 2000,
        "latency_ms": {"p50": 40.0},
        "threads": 1,
        "unstable": False,
        "measurement_valid": False,
        "invalid_reasons": ["vcgencmd get_throttled=0x4: under-voltage or throttling during the run"],
        "accuracy_vs_host": accuracy_vs_host(0.90, 0.892, 2000, 2000, "quantize"),
    }
    report = _report_with_device(throttled, {"name": "pi4", "status": "ok"})
    budgets = Budgets(device="pi4", min_accuracy_pct=89.5, max_latency_ms=100)
    results = {r.budget: r for r in check(report, budgets).results}
    # the host's 90.0 % would pass; the device's 89.2 % does not
    assert results["min_accuracy_pct"].status == "fail" and results["min_accuracy_pct"].measured == pytest.approx(89.2)
    assert results["max_latency_ms"].status == "skip" and "vcgencmd" in results["max_latency_ms"].message
    assert {r.budget: r.status for r in check(report, Budgets(min_accuracy_pct=89.5)).results} == {
        "min_accuracy_pct": "pass"
    }
    # a run that failed on the device never passes a gate that names it
    failed = _report_with_device(
        None, {"name": "pi4", "status": "failed", "error": "connection lost during the benchmark"}
    )
    [res] = check(failed, Budgets(device="pi4", max_size_mb=5)).results
    assert res.status == "fail" and "connection lost" in res.message


def test_accuracy_difference_is_flagged_beyond_test_set_noise():
    from edgekit.report.devices import accuracy_vs_host

    same = accuracy_vs_host(0.8833, 0.8833, 300, 300, "export")
    assert same["difference_pt"] == 0 and not same["beyond_noise"]
    small = accuracy_vs_host(0.8900, 0.8920, 2000, 2000, "quantize")  # measured x86 vs aarch64: within noise
    assert (
        not small["beyond_noise"]
        and small["noise_pt"] == pytest.approx(1.37, abs=0.01)
        and "integer kernels" in small["note"]
    )
    big = accuracy_vs_host(0.90, 0.70, 2000, 2000, "quantize")  # a collapse on the device's kernels
    assert big["beyond_noise"] and big["difference_pt"] == pytest.approx(-20)


@pytest.mark.slow
def test_quantize_target_lets_the_device_choose(server, tmp_path_factory):
    from device_run import RECIPE, device_run

    run_dir, _ = device_run(tmp_path_factory)
    stage = (
        "  - {id: int8-dev, kind: quantize, input: export, target: testdev, target_preset: quick, "
        "max_accuracy_drop: 5, on_miss: keep-best, calibration: {samples: 128}}\n"
    )
    recipe = run_dir.parent / "recipe-target.yaml"
    recipe.write_text(RECIPE.replace("  - {id: evaluate", stage + "  - {id: evaluate"))
    _inventory(
        run_dir.parent / "devices.yaml", server.ssh_config, run_dir.parent / "remote-target"
    )  # next to the recipe
    res = _cli(["shrink", str(recipe), "--run-dir", str(run_dir)])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    [stage_dir] = (run_dir / "stages").glob("int8-dev-*")
    metrics = json.loads((stage_dir / "manifest.json").read_text())["metrics"]
    dec = metrics["decided_on"]
    assert dec["device"] == "testdev" and dec["machine"]["arch"] == fingerprint()["arch"]
    # the host's chosen candidate and its CPU-dependent neighbours: per-channel flipped, S8S8 vs U8S8
    labels = [t["label"] for t in metrics["trials"]]
    assert len(labels) == 3 and any("S8S8" in x for x in labels) and any("U8S8" in x for x in labels)
    assert any("per-tensor" in x for x in labels) and any("per-channel" in x for x in labels)
    chosen = next(t for t in metrics["trials"] if t["trial"] == metrics["chosen_trial"])
    # the kept file follows the device's own latencies: INT8 only when it is faster there
    assert (metrics["kept"] == "int8") == (chosen["latency_p50_ms"] < metrics["float"]["latency_p50_ms"])
    # measured again, there: its own run of the harness (the p50 alone can coincide: both machines are this one, and
    # p50 is stored to 1e-4 ms; it did, 0.1856 ms on both, with 5,244 queries here and 1,525 there)
    here, there = dec["host_float"], metrics["float"]
    assert (there["latency_runs"], there["latency_p50_ms"]) != (here["latency_runs"], here["latency_p50_ms"])
    report = json.loads((run_dir / "report.json").read_text())
    art = next(a for a in report["artifacts"] if a["id"] == "int8-dev")
    assert art["decided_on"]["device"] == "testdev" and art["decided_on"]["machine"] in report["machines"]
    assert "chosen on device testdev" in (run_dir / "report.md").read_text()
