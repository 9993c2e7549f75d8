"""``python -m merr_factory`` is the same as ``merr-build``."""

from merr_factory.cli import main

if __name__ == "__main__":  # worker processes import this module too
    main()
