"""Fair comparisons: every case runs in its own worker process, and measurement rounds alternate between
cases so slow drift (thermal, frequency, other tenants) hits all of them alike.

Only one worker runs at a time; the others block reading their pipe, so their thread pools sleep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edgekit.errors import InputError


class Worker:
    """A ``python -m edgekit.bench.worker`` process holding one ONNX Runtime session."""

    def __init__(self, model: Path, threads: int, batch: int, spinning: bool, inter_threads: int = 1):
        self.model = model
        env = dict(os.environ)
        # the child must import this edgekit even when it runs from a source tree
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # stderr to a file, not a pipe: a chatty library must never block the worker on a full pipe
        self.log = tempfile.TemporaryFile("w+")
        # a session of its own: the terminal's Ctrl-C goes to the foreground process group, and must reach only
        # the parent, which stops the run and closes its workers (a worker it reached would die mid-reply)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit.bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.hello = self._send(
            {
                "model": str(model),
                "threads": threads,
                "inter_threads": inter_threads,
                "batch": batch,
                "spinning": spinning,
            }
        )

    def _send(self, msg: dict) -> dict:
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the reply read below reports why the worker died
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.log.seek(0)
            tail = self.log.read().strip().splitlines()[-1:] or ["no output"]
            raise InputError(
                f"{self.model}: benchmark worker exited with code {self.proc.returncode} ({tail[0][:300]})"
            )
        reply = json.loads(line)
        if not reply.get("ok"):
            self.close()
            msg = str(reply.get("error"))
            raise InputError(msg if msg.startswith(str(self.model)) else f"{self.model}: {msg}")
        return reply

    def call(self, cmd: str, **args) -> dict:
        return self._send({"cmd": cmd, **args})

    def close(self) -> None:
        # stdout first: a worker interrupted mid-reply (Ctrl-C) is blocked writing more than a pipe holds to a
        # parent that stopped reading; a closed pipe ends that write at once instead of after the 10 s wait
        self.proc.stdout.close()
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def round_order(n_cases: int, round_index: int) -> list[int]:
    """Round r starts with case r mod n: no case is always measured right after the same neighbour,
    e.g. 3 cases -> [0 1 2], [1 2 0], [2 0 1], ..."""
    return [(round_index + i) % n_cases for i in range(n_cases)]
