"""An emulated arm64 Debian root (debootstrap + qemu-user-static) with edgekit's base install, for the aarch64 test.

Built once and cached outside the repository, so repeated CI runs reuse it:

    /var/cache/edgekit/aarch64/   ($EDGEKIT_ARM64_CACHE)
        root/                      debootstrap --arch=arm64 --variant=minbase bookworm (+ python3-venv, pip)
        root/.edgekit-debootstrap-ok
        wheels-<key>/              aarch64 wheels of the base install (key: pyproject.toml + constraints.txt)
        root/opt/venv-<key>/       venv inside the root, installed from those wheels with --no-index
        own-wheel/                 edgekit's wheel from this checkout, reinstalled into the venv when it differs

Measured on a 2-core x86_64 VM: debootstrap ~6 min, wheels ~10 s, install under emulation ~2 min (cold); a
warm cache skips all three and reinstalls edgekit's own wheel (~10 s) only when its files changed. Needs root
(binfmt_misc, chroot, mounting /proc) and the Debian packages debootstrap and qemu-user-static (installed by the
Makefile's system-deps). The binfmt registration stays in the kernel until reboot, as `systemd-binfmt` would
leave it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("EDGEKIT_ARM64_CACHE", "/var/cache/edgekit/aarch64"))
BINFMT_CONF = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")  # from Debian's qemu-user-static
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
SUITE = "bookworm"
PYTHON_VERSION = "3.11"  # bookworm's python3
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64")


def missing_requirements() -> str | None:
    """Why this machine cannot build the root (the test skips with it), or None."""
    if os.geteuid() != 0:
        return "needs root (binfmt_misc registration, chroot, mounting /proc)"
    for tool in ("debootstrap", "chroot", "mount"):
        if not shutil.which(tool):
            return f"needs {tool} (Debian package debootstrap; `make install` installs it)"
    if not BINFMT_CONF.is_file():
        return f"needs {BINFMT_CONF} (Debian package qemu-user-static)"
    return None


def register_binfmt() -> None:
    """Let the kernel run aarch64 ELF files through qemu: Debian's binfmt line, written to binfmt_misc."""
    if not (BINFMT_DIR / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)], check=True)
    entry = BINFMT_DIR / "qemu-aarch64"
    if entry.exists():
        if entry.read_text().splitlines()[0] != "enabled":
            entry.write_text("1")
        return
    # the "F" flag opens the interpreter now, so it works inside the chroot without a copy of qemu there
    (BINFMT_DIR / "register").write_text(BINFMT_CONF.read_text().strip())


def _run(cmd: list[str], log: Path, **kw) -> None:
    with log.open("ab") as f:
        f.write(f"\n$ {' '.join(cmd)}\n".encode())
        f.flush()
        res = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw)
    if res.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{cmd[0]} failed with exit {res.returncode}; log {log}:\n{tail}")


def debootstrap(log: Path) -> Path:
    root, done = CACHE / "root", CACHE / "root" / ".edgekit-debootstrap-ok"
    if done.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)  # a half-built root from an interrupted run
    root.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "debootstrap",
            "--arch=arm64",
            "--variant=minbase",
            "--include=python3,python3-venv,python3-pip",
            SUITE,
            str(root),
        ],
        log,
        timeout=1800,
    )
    done.write_text("ok\n")
    return root


def _deps_key() -> str:
    """Changes when edgekit's dependencies or their pins change (not with edgekit's own source)."""
    h = hashlib.sha256()
    for p in (REPO / "pyproject.toml", REPO / "constraints.txt"):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def own_wheel(dest: Path, log: Path) -> Path:
    """edgekit's wheel, built from this checkout (pure Python, a few seconds)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(REPO)],
        log,
        timeout=300,
    )
    [wheel] = dest.glob("edgekit-*.whl")
    return wheel


def wheels(own: Path, log: Path) -> Path:
    """aarch64 wheels of the base install, pinned by constraints.txt, resolved from edgekit's own wheel."""
    dest = CACHE / f"wheels-{_deps_key()}"
    if (dest / ".ok").is_file():
        return dest
    tmp = CACHE / f"{dest.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary=:all:",
            *plat,
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "-c",
            str(REPO / "constraints.txt"),
            "-d",
            str(tmp),
            str(own),
        ],
        log,
        timeout=600,
    )
    for w in tmp.glob("edgekit-*.whl"):
        w.unlink()  # edgekit itself is installed fresh on every run
    (tmp / ".ok").write_text("ok\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


class Mounted:
    """/proc (and the wheels) mounted inside the root while it runs; unmounted on exit."""

    def __init__(self, root: Path, wheel_dir: Path | None = None, own_dir: Path | None = None):
        self.root, self.wheel_dir, self.own_dir, self.mounts = root, wheel_dir, own_dir, []

    def __enter__(self):
        self._mount(["-t", "proc", "proc"], self.root / "proc")
        for src, name in ((self.wheel_dir, "wheels"), (self.own_dir, "own")):
            if src is not None:
                self._mount(["--bind", str(src)], self.root / name)
        return self

    def _mount(self, args: list[str], target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(target)], check=True)
        self.mounts.append(target)

    def __exit__(self, *exc):
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(target)], check=False)


def install_edgekit(root: Path, wheel_dir: Path, own: Path, log: Path) -> str:
    """A venv inside the root with edgekit's base install from the aarch64 wheels (cached per dependency set) and
    this checkout's edgekit (reinstalled when the installed files differ from its wheel's, ~10 s); its python, as
    seen inside the root."""
    venv = f"/opt/venv-{wheel_dir.name.removeprefix('wheels-')}"
    chroot_pip = ["chroot", str(root), f"{venv}/bin/pip", "install", "-q", "--no-index", "--find-links", "/wheels"]
    with Mounted(root, wheel_dir, own.parent):
        if not (root / venv.lstrip("/") / ".ok").is_file():
            shutil.rmtree(root / venv.lstrip("/"), ignore_errors=True)
            _run(["chroot", str(root), "python3", "-m", "venv", venv], log, timeout=600)
            _run([*chroot_pip, f"/own/{own.name}"], log, timeout=1800)  # resolves every dependency from /wheels
            (root / venv.lstrip("/") / ".ok").write_text("ok\n")
        elif not _holds(root / venv.lstrip("/"), own):
            _run([*chroot_pip, "--no-deps", "--force-reinstall", f"/own/{own.name}"], log, timeout=600)
    return f"{venv}/bin/python"


def _package_files(record: str) -> set[str]:
    """The ``path,sha256=...,size`` lines of a RECORD for edgekit's own files (not the .pyc files pip adds)."""
    return {ln for ln in record.splitlines() if ln.startswith("edgekit/") and "__pycache__" not in ln}


def _holds(venv: Path, own: Path) -> bool:
    """Whether the venv's installed edgekit has exactly the files, by hash, of this checkout's wheel: then the
    reinstall under emulation (10-30 s) is skipped. Read from what pip installed, not from a stamp of ours, because
    the cache is shared with checkouts whose tests reinstall without writing one."""
    with zipfile.ZipFile(own) as whl:
        [record] = [n for n in whl.namelist() if n.endswith(".dist-info/RECORD")]
        wanted = _package_files(whl.read(record).decode())
    installed = list(venv.glob(f"lib/python{PYTHON_VERSION}/site-packages/edgekit-*.dist-info/RECORD"))
    return len(installed) == 1 and bool(wanted) and _package_files(installed[0].read_text()) == wanted


def prepare(log: Path) -> tuple[Path, str]:
    """The cached root and the python of its edgekit venv, building whatever is missing."""
    register_binfmt()
    root = debootstrap(log)
    own = own_wheel(CACHE / "own-wheel", log)
    return root, install_edgekit(root, wheels(own, log), own, log)


if __name__ == "__main__":  # warm the cache by hand: python tests/aarch64_root.py
    why = missing_requirements()
    if why:
        sys.exit(f"cannot build the arm64 root: {why}")
    CACHE.mkdir(parents=True, exist_ok=True)
    print(prepare(CACHE / "build.log"))
