"""Logging set-up: concise lines on the console, a detailed log file per run."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

from merr_factory.faults import writing_output

PACKAGE_LOGGER = "merr_factory"


class ConsoleHandler(logging.Handler):
    """Writes log lines through tqdm, so they never break a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def setup_console_logging(verbose: bool = False) -> None:
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    console = ConsoleHandler()
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(console)
    logger.propagate = False


class RunLogFile(logging.FileHandler):
    """The run's log file. A write that fails (the disk is full) costs one note on the
    console, not a traceback per log line; later lines are tried again (space may return)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self._noted = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._noted:
            self._noted = True
            error = sys.exc_info()[1]
            tqdm.write(
                f"WARNING: cannot write the log file {self.baseFilename}: {error}", file=sys.stderr
            )


def add_log_file(path: Path) -> logging.Handler:
    """Also log everything (debug included) to ``path``; returns the handler to remove later.

    Raises ``OutputError`` when the log file cannot be created."""
    with writing_output(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RunLogFile(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger(PACKAGE_LOGGER).addHandler(handler)
    return handler
