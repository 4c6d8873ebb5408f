"""The command line as a user meets it: version, help, and the torch-free path."""

from pathlib import Path

from conftest import python_without
from edgekit import __version__
from edgekit.cli.main import main

ROOT = Path(__file__).parents[1]


def run_without_torch(tmp_path, *code_or_args, module=True):
    """Run python with `import torch` failing, as on a device that only has the base install."""
    args = ["-m", "edgekit", *code_or_args] if module else ["-c", *code_or_args]
    return python_without(tmp_path)(*args, env={"HOME": str(tmp_path)})


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
    code = (
        f"import sys; from edgekit.cli.main import main; rc = main(['validate', '{recipe}']); "
        "assert 'torch' not in sys.modules; sys.exit(rc)"
    )
    proc = run_without_torch(tmp_path, code, module=False)
    assert proc.returncode == 0, proc.stderr
    assert run_without_torch(tmp_path, "schema").returncode == 0


def test_shrink_without_torch_names_the_extra(tmp_path):
    proc = run_without_torch(
        tmp_path, "shrink", str(ROOT / "recipes" / "quick.yaml"), "--run-dir", str(tmp_path / "run")
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'edgekit[shrink]'" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()[-1:]) == 1
