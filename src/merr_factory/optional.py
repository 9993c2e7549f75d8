"""Optional dependencies: heavy backends live in extras, and say which one to install."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependencyError(ImportError):
    """A backend was chosen whose Python package is not installed."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or fail with the ``pip install`` line that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module}', which is not installed "
            f"({error}); install it with: pip install 'merr-factory[{extra}]'"
        ) from error
