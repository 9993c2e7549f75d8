"""Before a run: ``doctor`` (does everything the config names exist and answer?) and
``estimate`` (a pilot on a few samples, projected to the whole input).

May import anything below the entry points (docs/modules.md, enforced by
``tests/test_layers.py``); nothing imports it but ``cli.py``.
"""
