"""Getting a device ready to run the host's benchmark: what is there (probe), the base install (setup, only with
the user's consent: --setup-device), and edgekit's own source, sent by content hash so the device runs exactly the
host's code.

    facts = probe(ssh, device, python, src_id)   # {"arch": "aarch64", "free_kb": "...", "deps": "ok", "src": "ok"}
"""

from __future__ import annotations

import hashlib
import io
import shlex
import tarfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import edgekit
from edgekit import __version__
from edgekit.bench.devices import DEFAULT_VENV, Device
from edgekit.bench.ssh import SSH_LOST, Ssh, connection_problem, rpath
from edgekit.errors import EdgekitError, InputError

PROBE_TIMEOUT_S = 60
SETUP_TIMEOUT_S = 1800  # pip on a Pi builds nothing (wheels exist) but downloads ~60 MB


class DeviceFailed(EdgekitError):
    """The device could not be reached, ran out of disk or time, or went away. Exit code 1."""

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record = record  # the failed result document to keep, when the run had started


Progress = Callable[[str], None]


def source_archive() -> tuple[bytes, str]:
    """edgekit's own Python source as a tar.gz, and its content hash (the device runs exactly this code)."""
    pkg = Path(edgekit.__file__).parent
    files = sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for p in files:
            info = tar.gettarinfo(str(p), arcname=f"edgekit/{p.relative_to(pkg).as_posix()}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with p.open("rb") as f:
                tar.addfile(info, f)
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0" + p.read_bytes())
    return buf.getvalue(), f"{__version__}-{h.hexdigest()[:12]}"


def base_requirements() -> list[str]:
    """The base install's dependencies, with the host's onnxruntime pinned so both run the same kernels' version."""
    try:
        reqs = [r for r in metadata.requires("edgekit") or [] if "extra ==" not in r]
        ort = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        raise InputError("--setup-device needs edgekit installed on the host (pip install edgekit)") from None
    return [f"onnxruntime=={ort}" if r.split(">")[0].split("=")[0].strip() == "onnxruntime" else r for r in reqs]


def probe(ssh: Ssh, dev: Device, python: str, src_id: str) -> dict[str, str]:
    """What the device has: arch, free_kb in its dir, deps (ok/missing) for ``python``, src (ok when this source
    is unpacked there already). DeviceFailed when it cannot be reached."""
    script = f"""set -e
D={rpath(dev.dir)}; mkdir -p "$D"; cd "$D"
echo "arch=$(uname -m)"
echo "free_kb=$(df -Pk . | awk 'NR==2 {{print $4}}')"
P={rpath(python)}
if command -v "$P" >/dev/null 2>&1 && "$P" -c 'import numpy, onnx, onnxruntime, typer, yaml, pydantic, rich' 2>/dev/null
then echo deps=ok; else echo deps=missing; fi
if [ -f src-{src_id}/.ok ]; then echo src=ok; fi"""
    res = ssh.run(script, PROBE_TIMEOUT_S)
    if res.returncode != 0:
        raise DeviceFailed(
            connection_problem(dev, res, "cannot connect" if res.returncode == SSH_LOST else "probe failed")
        )
    return dict(ln.split("=", 1) for ln in res.stdout.decode(errors="replace").splitlines() if "=" in ln)


def setup(ssh: Ssh, dev: Device, progress: Progress) -> None:
    """A venv at DEFAULT_VENV with edgekit's base dependencies (only on --setup-device: it uses the device's net)."""
    reqs = " ".join(shlex.quote(r) for r in base_requirements())
    progress(f"creating a venv on {dev.name} and installing edgekit's base dependencies (pip, minutes on a Pi)")
    res = ssh.run(
        f"set -e; python3 -m venv {rpath(DEFAULT_VENV)}; "
        f"{rpath(DEFAULT_VENV)}/bin/pip install -q --disable-pip-version-check {reqs}",
        SETUP_TIMEOUT_S,
    )
    if res.returncode != 0:
        raise DeviceFailed(connection_problem(dev, res, f"setting up {DEFAULT_VENV} failed"))
