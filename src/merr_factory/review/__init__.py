"""``merr-build review``: a local web app where people check the samples one at a time and
their decisions go to the review log (``curation/review_log.py``).

May import anything below the reports layer (the config, the workspace, the store, the
dataset entries, the decisions log); nothing imports it but the command line
(docs/modules.md, enforced by ``tests/test_layers.py``).
"""
