"""A one-line progress display for ``ehrbench record``.

On a terminal the line is rewritten in place with ``\\r`` after every completed request. On any
other stream (a log file, a pipe, CI), one log line is written per completed request instead.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

logger = logging.getLogger(__name__)


class RecordingProgress:
    """Counts of one recording run: cases done, rows received, output tokens, cost and speed.

    ``cases_total`` is the number of cases of the run. Rows and tokens count the requests sent
    in this run only, not the ones replayed from cassettes. Tokens per second are output tokens
    divided by the time since the first request of the run was sent (``clock`` in seconds).
    """

    def __init__(
        self,
        cases_total: int,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cases_total = cases_total
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.cases_done = 0
        self.requests = 0
        self.rows = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.unpriced_requests = 0
        self._started: float | None = None
        self._shown_width = 0
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty())

    def request_sent(self) -> None:
        """Start the speed clock at the first request of the run."""
        if self._started is None:
            self._started = self.clock()

    def request_done(self, label: str, rows: int, output_tokens: int | None, cost: float | None) -> None:
        """Count one completed request (``label`` names it) and show the updated line."""
        self.requests += 1
        self.rows += rows
        self.output_tokens += output_tokens or 0
        if cost is None:
            self.unpriced_requests += 1
        else:
            self.cost += cost
        self._show(label)

    def case_done(self) -> None:
        """Count one finished case, and show the updated line on a terminal."""
        self.cases_done += 1
        if self.interactive:
            self._show("")

    def line(self) -> str:
        """Return the progress line: cases, requests, rows, output tokens, cost and tokens per second."""
        elapsed = self.clock() - self._started if self._started is not None else 0.0
        speed = f"{self.output_tokens / elapsed:.1f}" if elapsed > 0 else "n/a"
        unpriced = f" (+{self.unpriced_requests} requests without prices)" if self.unpriced_requests else ""
        return (
            f"cases {self.cases_done}/{self.cases_total} | requests {self.requests} | rows {self.rows} | "
            f"output tokens {self.output_tokens} | cost {self.cost:.6f} USD{unpriced} | {speed} tokens/s"
        )

    def clear(self) -> None:
        """Erase the line on a terminal, so that a log record can be written in its place."""
        if self.interactive and self._shown_width:
            self.stream.write("\r" + " " * self._shown_width + "\r")
            self.stream.flush()
            self._shown_width = 0

    def close(self) -> None:
        """End the line on a terminal, so that later output starts on a new line."""
        if self.interactive and self._shown_width:
            self.stream.write("\n")
            self.stream.flush()
            self._shown_width = 0

    def _show(self, label: str) -> None:
        line = self.line()
        if not self.interactive:
            logger.info("%s done | %s", label, line)
            return
        padding = " " * max(0, self._shown_width - len(line))
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self._shown_width = len(line)


class ClearProgressFilter(logging.Filter):
    """Logging filter that erases the terminal progress line before a record is written.

    Attach it to the handler that writes to the same terminal as the progress line.
    """

    def __init__(self, progress: RecordingProgress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear()
        return True
