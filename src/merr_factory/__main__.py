"""``python -m merr_factory`` is the same as ``merr-build``."""

from .cli import main

main()
