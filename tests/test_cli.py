"""The command line as a user meets it: version, help, and the torch-free path."""

import subprocess
import sys
import textwrap
from pathlib import Path

from edgekit import __version__
from edgekit.cli.main import main

ROOT = Path(__file__).parents[1]


def run_without_torch(tmp_path, *code_or_args, module=True):
    """Run python with `import torch` failing, as on a device that only has the base install."""
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class _NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch.") or name.startswith("torchvision"):
                    raise ModuleNotFoundError(f"No module named {name!r}")
        sys.meta_path.insert(0, _NoTorch())
    """))
    cmd = [sys.executable, "-m", "edgekit", *code_or_args] if module else [sys.executable, "-c", *code_or_args]
    env = {"PYTHONPATH": f"{blocker}:{ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"edgekit {__version__}"


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("shrink", "validate", "schema"):
        assert cmd in out


def test_validate_and_schema_do_not_import_torch(tmp_path):
    recipe = ROOT / "recipes" / "fashion-mnist.yaml"
    code = f"import sys; from edgekit.cli.main import main; rc = main(['validate', '{recipe}']); assert 'torch' not in sys.modules; sys.exit(rc)"
    proc = run_without_torch(tmp_path, code, module=False)
    assert proc.returncode == 0, proc.stderr
    assert run_without_torch(tmp_path, "schema").returncode == 0


def test_shrink_without_torch_names_the_extra(tmp_path):
    proc = run_without_torch(tmp_path, "shrink", str(ROOT / "recipes" / "quick.yaml"), "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'edgekit[shrink]'" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()[-1:]) == 1
