"""Jupyter, JupyterLab, VS Code and Colab: whether this is a notebook's kernel, and training's progress bar there.

The bar is an HTML <progress> element in one display output that is updated in place (IPython's display_id), so it
needs no widget library and shows wherever a notebook shows HTML; a plain-text view stands in elsewhere. IPython is
imported only when a kernel is already running (it is then already loaded).
"""

from __future__ import annotations

import html
import sys
import threading
import time

REFRESH_SECONDS = 0.25  # the most often the bar is redrawn (a training thread may report every epoch)
RATE_AFTER = 2.0  # seconds of training after its first run-epochs before the bar says how long is left


def in_notebook() -> bool:
    """Whether this interpreter is a notebook's kernel (ipykernel, or Colab's shell on it)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


class _View:
    """What the display shows: the bar as HTML, and as text where HTML is not shown."""

    def __init__(self, done: int, total: int, text: str, finished: bool, left: float | None = None):
        self.done, self.total, self.text, self.finished = done, total, text, finished
        self.left = "" if left is None or finished else f" · ≈ {clock(left)} left"

    def _repr_html_(self) -> str:
        state = "done" if self.finished else "running"
        return (
            f'<div class="reportgen-progress" data-state="{state}" style="font-family: sans-serif; font-size: 0.9em">'
            f'<progress value="{self.done}" max="{max(self.total, 1)}" style="width: 40%; vertical-align: middle">'
            f"</progress> {self.done:,} / {self.total:,} run-epochs{self.left} · {html.escape(self.text)}</div>"
        )

    def __repr__(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = round(30 * share)
        return f"[{'#' * filled}{'.' * (30 - filled)}] {self.done:,} / {self.total:,} run-epochs{self.left} · {self.text}"


def clock(seconds: float) -> str:
    """A time as rich's progress bar writes it: 0:42, 12:05, 1:02:05."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class NotebookBar:
    """Training's progress in a notebook: a context whose update(task, advance=, description=) has the interface of
    rich's Progress.update (reportgen.pipeline calls it from training threads)."""

    def __init__(self, total: int, description: str):
        self.total, self.done, self.text = total, 0, description
        self._lock, self._shown, self._handle = threading.Lock(), 0.0, None
        self._first: tuple[float, int] | None = None  # when the first run-epochs were done, and how many

    def left(self) -> float | None:
        """Seconds of training left at the rate since the first run-epochs were done (compiling before them is not
        counted), once it has been measured for RATE_AFTER seconds; else None."""
        if self._first is None:
            return None
        began, done = self._first
        seconds = time.monotonic() - began
        if seconds < RATE_AFTER or self.done <= done:
            return None
        return max(self.total - self.done, 0) * seconds / (self.done - done)

    def _view(self, finished: bool = False) -> _View:
        return _View(min(self.done, self.total), self.total, self.text, finished, self.left())

    def __enter__(self) -> NotebookBar:
        from IPython.display import display

        self._handle = display(self._view(), display_id=True)
        self._shown = time.monotonic()
        return self

    def update(self, task=None, advance: int = 0, description: str | None = None) -> None:
        """Count advance more run-epochs done; redraw at most every REFRESH_SECONDS."""
        with self._lock:
            self.done += advance
            if advance and self._first is None:
                self._first = (time.monotonic(), self.done)
            if description is not None:
                self.text = description
            now = time.monotonic()
            if self._handle is not None and now - self._shown >= REFRESH_SECONDS:
                self._shown = now
                self._handle.update(self._view())

    def __exit__(self, kind, value, trace) -> None:
        if self._handle is not None:
            if kind is None:
                self.text = f"trained {self.total:,} run-epochs"
            else:
                self.text = f"stopped ({kind.__name__})"
            self._handle.update(self._view(finished=kind is None))
