"""A real PostgreSQL server on 127.0.0.1 for the distributed-search test: initdb into a fresh directory,
pg_ctl start on a free port (no unix socket), trust authentication for one throwaway role, pg_ctl stop.

Debian's postgresql (installed by the Makefile's system-deps; binaries in /usr/lib/postgresql/<version>/bin).
PostgreSQL refuses to run as root: as root the server runs as the Debian ``postgres`` user (runuser), in a
directory that user owns."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from loopback import free_port

ROLE = "edgekit"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_requirements() -> str | None:
    bins = _bin_dir()
    if bins is None or not (bins / "pg_ctl").is_file():
        return "needs Debian's postgresql (initdb, pg_ctl; `make install` installs it)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "runs PostgreSQL as the postgres user when root, and needs runuser for that"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "needs psycopg (pip install -c constraints.txt 'psycopg[binary]')"
    return None


@contextmanager
def postgres_server():
    """Yield an SQLAlchemy URL of a running server's ``postgres`` database; stop and delete it afterwards."""
    bins = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="edgekit-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bins / "initdb"), "-D", str(data), "-U", ROLE, "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
        run(
            str(bins / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        try:
            yield f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/postgres"
        finally:
            run(str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
