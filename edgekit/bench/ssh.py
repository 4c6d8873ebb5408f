"""The system ssh with a device's settings (edgekit.bench.devices), and how its failures read.

Host keys are checked as the user's ssh config says (never switched off); BatchMode means a missing key or an
unknown host fails at once instead of waiting for a password; every call has a timeout.

    res = Ssh(device).run("uname -m", timeout=60)      # a CompletedProcess; TimeoutError past the timeout
"""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from pathlib import Path

from edgekit.bench.devices import Device

# ssh declares a link dead after ServerAliveInterval x ServerAliveCountMax seconds without an answer
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
SSH_LOST = 255  # ssh's own exit code: connection failed or dropped (the remote command's codes pass through)


def rpath(path: str) -> str:
    """A device path for the remote shell: ~ expands there, everything else is quoted."""
    if path == "~" or path.startswith("~/"):
        return '"$HOME"' + (shlex.quote(path[1:]) if len(path) > 1 else "")
    return shlex.quote(path)


class Ssh:
    """The system ssh with the device's settings; every call has a timeout."""

    def __init__(self, device: Device):
        self.device = device
        self.base = [
            "ssh",
            *(["-F", str(Path(device.ssh_config).expanduser())] if device.ssh_config else []),
            "-o",
            f"ConnectTimeout={device.connect_timeout_s}",
            *SSH_OPTIONS,
            device.host,
        ]

    def run(self, script: str, timeout: float) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([*self.base, script], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"no answer from {self.device.host} within {timeout:.0f} s") from e

    def send(self, script: str, files: dict[str, Path | bytes], timeout: float) -> subprocess.CompletedProcess:
        """Run ``script`` with a tar stream of ``files`` (name on the device -> local file or bytes) on its stdin;
        streamed, so a model is never held in memory whole."""
        proc = subprocess.Popen(
            [*self.base, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
                for arcname, src in files.items():
                    if isinstance(src, bytes):
                        info = tarfile.TarInfo(arcname)
                        info.size = len(src)
                        tar.addfile(info, io.BytesIO(src))
                    else:
                        tar.add(str(src), arcname=arcname)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the device stopped reading (disk full, link lost): its stderr and exit code say why
        try:
            out, err = proc.communicate(timeout=timeout)  # closes stdin: the end of the tar stream
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.communicate()
            raise TimeoutError(f"no answer from {self.device.host} within {timeout:.0f} s") from e
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def last_line(data: bytes | str | None) -> str:
    text = data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def connection_problem(dev: Device, res: subprocess.CompletedProcess, doing: str) -> str:
    why = last_line(res.stderr)
    if "Host key verification failed" in why or "host key" in why.lower():
        why += (
            f" - the device's host key is not in known_hosts: connect once with `ssh {dev.host}`, check the "
            "fingerprint it shows, and accept it"
        )
    elif "Permission denied" in why:
        why += " - add your key to the device (ssh-copy-id) or load it into ssh-agent"
    return f"device {dev.name} ({dev.host}): {doing}: {why}"
