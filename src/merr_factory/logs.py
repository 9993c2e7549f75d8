"""Logging set-up: concise lines on the console, a detailed log file per run."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

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


def add_log_file(path: Path) -> logging.Handler:
    """Also log everything (debug included) to ``path``; returns the handler to remove later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger(PACKAGE_LOGGER).addHandler(handler)
    return handler
