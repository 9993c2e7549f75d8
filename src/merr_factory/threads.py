"""How many CPU threads the numeric libraries of one worker may use.

Executors run several workers side by side; if each library took every core, ``workers``
processes would fight over the cores and run slower than one. The executor sets a budget per
worker (``workers x threads`` near the core count). Libraries that read ``OMP_NUM_THREADS``
and friends pick it up when first imported; torch is told directly; backends whose libraries
read neither (llama.cpp, CTranslate2) pass ``thread_budget()`` when they load.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)

_budget: list[int] = []


def set_thread_budget(threads: int) -> None:
    """Limit this process's numeric libraries to ``threads`` threads."""
    _budget[:] = [threads]
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def thread_budget() -> int:
    """The budget set by the executor, else ``OMP_NUM_THREADS``, else every core."""
    if _budget:
        return _budget[0]
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1
