"""Retry with exponential backoff for failures that may pass (429, 5xx, timeouts)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from merr_factory.llm.base import TransientLLMError

log = logging.getLogger(__name__)

T = TypeVar("T")


def with_retries(
    call: Callable[[], T],
    max_retries: int,
    base_delay: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run ``call``; on TransientLLMError wait base_delay * 2**n (with jitter) and try again.

    Returns the result and the number of retries it took; the last error is raised when all
    attempts failed.
    """
    attempt = 0
    while True:
        try:
            return call(), attempt
        except TransientLLMError as error:
            if attempt >= max_retries:
                raise TransientLLMError(
                    f"{error} (gave up after {attempt + 1} attempts)"
                ) from error
            delay = base_delay * (2**attempt) * (0.5 + random.random() / 2)
            log.debug("LLM call failed (%s); retry %d in %.2f s", error, attempt + 1, delay)
            sleep(delay)
            attempt += 1
