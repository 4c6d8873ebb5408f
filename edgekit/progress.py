"""Progress that reads well in a terminal and in a CI log.

In a terminal: rich's live bars. Anywhere else (piped, redirected, CI): rich would hold every bar back until the
end, or spray ``\\r`` redraws, so ``LineProgress`` prints plain lines instead — when a task starts, finishes, or
changes what it is doing, and at most every ``interval_s`` seconds in between.

    with progress(console, *columns, transient=True) as bar:   # same calls as rich.progress.Progress
        task = bar.add_task("train epoch 1/2", total=235, info="")
        bar.update(task, advance=1, info="loss 0.41")
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

INTERVAL_S = float(os.environ.get("EDGEKIT_PROGRESS_INTERVAL", "30"))  # seconds between lines without a TTY


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0
    fields: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    printed: float = 0.0
    finished: bool = False


class LineProgress:
    """rich.progress.Progress's add_task/update, as periodic log lines."""

    def __init__(self, console: Console, interval_s: float = INTERVAL_S):
        self.console, self.interval_s = console, interval_s
        self.tasks: list[_Task] = []

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        self.tasks.append(_Task(description, total, fields=fields))
        self._line(self.tasks[-1])
        return len(self.tasks) - 1

    def update(
        self,
        task_id: int,
        *,
        description: str | None = None,
        total: float | None = None,
        completed: float | None = None,
        advance: float | None = None,
        **fields: Any,
    ) -> None:
        t = self.tasks[task_id]
        changed = description is not None and description != t.description
        t.description = description if description is not None else t.description
        t.total = total if total is not None else t.total
        t.completed = completed if completed is not None else t.completed + (advance or 0)
        t.fields.update(fields)
        done = t.total is not None and t.completed >= t.total
        if changed or (done and not t.finished) or time.monotonic() - t.printed >= self.interval_s:
            t.finished = done
            self._line(t)

    def _line(self, t: _Task) -> None:
        t.printed = time.monotonic()
        count = f" {t.completed:g}/{t.total:g}" if t.total else ""
        info = " ".join(str(v) for v in t.fields.values() if v not in ("", None))
        elapsed = t.printed - t.started
        self.console.print(
            f"{escape(t.description)}{count}{'  ' + escape(info) if info else ''}  [{elapsed:.0f}s]",
            highlight=False,
            soft_wrap=True,
        )


def progress(console: Console | None, *columns: Any, transient: bool = False):
    """Live bars on a terminal, log lines elsewhere; silent when the console is quiet (--quiet)."""
    console = console or Console(stderr=True)  # library callers (fit() in a test or a notebook) may pass none
    if console.is_terminal and not console.quiet:
        return Progress(*columns, console=console, transient=transient)
    # quiet: LineProgress prints nothing to a quiet console; rich's live display would still redraw every task
    # ten times a second in a thread (a 700-epoch fit of a learning-curve point spent most of its time there)
    return LineProgress(console)
