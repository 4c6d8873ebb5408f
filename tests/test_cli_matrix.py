"""Every command × (no args, -h, unknown option, bad value, bad output path, Ctrl-C): the right exit code and one
line, never a traceback — in the full install and in the torch-free base install (torch and click blocked)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cli_matrix import cases, prepare, problems, run

ROOT = Path(__file__).resolve().parents[1]
BASE_INSTALL_BLOCKS = (
    "torch",
    "torchvision",
    "torch_pruning",
    "neural_compressor",
    "click",
    "matplotlib",
    "transformers",
    "onnxscript",
    "safetensors",
    "tqdm",
)


def base_install_env(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH with a sitecustomize that makes the packages the base install lacks fail to import."""
    site = tmp_path / "base-install"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        import sys
        BLOCKED = {BASE_INSTALL_BLOCKS!r}
        class _BaseInstall:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
        sys.meta_path.insert(0, _BaseInstall())
    """)
    )
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT), str(ROOT / "tests")]), COLUMNS="100")


def test_matrix_full_install(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare(tmp_path)
    rows = [(a, c, t, *run(a)) for a, c, t in cases(tmp_path)]
    assert not problems(rows), "\n".join(problems(rows))
    assert not (tmp_path / "runs").exists()  # nothing was started for a usage error


def test_matrix_base_install_without_torch_or_click(tmp_path):
    env = base_install_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import click"], capture_output=True, text=True, env=env)
    assert probe.returncode != 0 and "No module named 'click'" in probe.stderr  # the block works
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "cli_matrix.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [tuple(r) for r in json.loads(proc.stdout)]
    assert len(rows) == len(cases(tmp_path))
    assert not problems(rows), "\n".join(problems(rows))


def test_empty_summary_path_means_no_summary(tmp_path):
    from edgekit.fsutil import check_output_file

    assert check_output_file(None, "--summary") is None
    assert check_output_file("", "--summary") is None  # --summary "$GITHUB_STEP_SUMMARY" outside GitHub
    assert check_output_file(tmp_path / "new" / "s.md", "--summary") == tmp_path / "new" / "s.md"


def test_debug_variable_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_DEBUG", "1")
    from edgekit.cli.main import main
    from edgekit.errors import InputError

    with pytest.raises(InputError):
        main(["validate", str(tmp_path / "missing.yaml")])


# ------------------------------------------------------------------------------------------------ Ctrl-C

TOY_DATA = """
import numpy as np

def load(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (96, 1, 16, 16), dtype=np.uint8)
    y = rng.integers(0, 4, 96)
    return {"train": (x[:64], y[:64]), "test": (x[64:], y[64:]), "classes": ["a", "b", "c", "d"]}
"""


def _interrupt(cmd: list[str], ready: str, env: dict, cwd: Path, after_s: float = 0.5) -> tuple[int, str]:
    """Start the command, wait until stderr shows ``ready``, send one SIGINT (as Ctrl-C does), return (code, stderr)."""
    # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: give the
    # child Ctrl-C's default disposition whatever launched the tests
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    deadline = time.monotonic() + 240
    try:
        for line in proc.stderr:
            seen.append(line)
            if ready in line or time.monotonic() > deadline:
                break
        assert any(ready in line for line in seen), "".join(seen)
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        return proc.wait(timeout=60), "".join(seen) + rest
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_ctrl_c_during_shrink_exits_130_and_resumes(tmp_path):
    (tmp_path / "toydata.py").write_text(TOY_DATA)
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(
        "edgekit: 1\nname: toy\ndata: {source: 'python:toydata:load'}\n"
        "model: {source: 'edgekit:resnet-small', width: 0.25}\n"
        "stages:\n  - {id: train, kind: train, epochs: 1000, batch_size: 16}\n  - {id: export, kind: export}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_PROGRESS_INTERVAL="0")
    run_dir = tmp_path / "run"
    code, err = _interrupt(
        [sys.executable, "-m", "edgekit", "shrink", str(recipe), "--run-dir", str(run_dir)],
        "train epoch 2/1000",
        env,
        tmp_path,
    )
    assert code == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: interrupted during stage 'train'") and "run the same command to resume" in last
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "failed" and run["error"] == "KeyboardInterrupt"
    assert not list((run_dir / "stages").glob(".tmp-*"))  # no half-written stage left behind


def _tiny_onnx(path: Path) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((16, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("install", ["full", "base"])
def test_ctrl_c_during_bench_exits_130(tmp_path, install):
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    env = base_install_env(tmp_path) if install == "base" else dict(os.environ, PYTHONPATH=str(ROOT))
    env["EDGEKIT_PROGRESS_INTERVAL"] = "0"
    out = tmp_path / "bench.json"
    # the default preset, interrupted 0.5 s after its warm-up: at least 5 s of rounds remain (each lasts >= 1 s of
    # wall time however loaded the machine), so the signal lands mid-measurement. --thorough gave a minute of margin
    # but cost ~25 s a run: the bench finishes its current round before it answers the interrupt (6 s rounds there)
    code, err = _interrupt(
        [sys.executable, "-m", "edgekit", "bench", str(model), "-o", str(out)], "warm-up ", env, tmp_path
    )
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "error: benchmark interrupted; nothing was written"
    assert not out.exists()
