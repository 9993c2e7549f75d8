"""Curation: what people and whole-set steps decide about samples.

A person's decisions in the curation CSV (``decisions``), and the de-duplication of
reasonings (``dedup``, a whole-set step built on ``near_duplicates``).

May import: the foundations and the stage contract (``run.whole_set``, ``run.records``,
``stage_data``); never a stage module, export or a report (docs/modules.md, enforced by
``tests/test_layers.py``).
"""
