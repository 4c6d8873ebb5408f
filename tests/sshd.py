"""A real OpenSSH server on 127.0.0.1 with a throwaway host key and user key, for the remote bench tests.

Debian's openssh-server (installed by the Makefile's system-deps). Runs as the current user: as root it logs in
as root with the test key, otherwise as that user. The client side is an ssh config file naming host ``testdev``
with strict host key checking against a known_hosts that holds only the throwaway host key."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from loopback import free_port

SSHD = "/usr/sbin/sshd"


def missing_requirements() -> str | None:
    if not Path(SSHD).is_file() or not shutil.which("ssh-keygen") or not shutil.which("ssh"):
        return "needs Debian's openssh-server and openssh-client (`make install` installs them)"
    return None


class Sshd:
    def __init__(self, d: Path):
        self.dir, self.port, self.user = d, free_port(), getpass.getuser()
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
        (d / "sshd_config").write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile {d}/sshd.pid
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
LogLevel ERROR
""")
        host_pub = " ".join((d / "host_key.pub").read_text().split()[:2])
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        (d / "empty_known_hosts").write_text("")
        self.ssh_config = self.client_config("known_hosts")
        self.proc: subprocess.Popen | None = None

    def client_config(self, known_hosts: str, name: str = "ssh_config") -> Path:
        path = self.dir / name
        path.write_text(f"""Host testdev
  HostName 127.0.0.1
  Port {self.port}
  User {self.user}
  IdentityFile {self.dir}/user_key
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {self.dir}/{known_hosts}
  StrictHostKeyChecking yes
""")
        return path

    def start(self) -> "Sshd":
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        log = (self.dir / "sshd.log").open("ab")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
                time.sleep(0.1)
        raise RuntimeError("sshd did not start listening within 10 s")

    def kill(self) -> None:
        """SIGKILL to the server and every process below it (sessions, their shells, the benchmark), as when the
        device loses power. sshd puts each session in a session of its own, so its process group is not enough."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in [self.proc.pid, *self.descendants()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def descendants(self) -> list[int]:
        """Process ids of everything sshd has started, directly or not (from /proc/PID/stat parent ids)."""
        parent: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = [], {self.proc.pid} if self.proc else set()
        while frontier:
            children = {pid for pid, pp in parent.items() if pp in frontier}
            found += sorted(children)
            frontier = children
        return found
