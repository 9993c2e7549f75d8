"""The inputs: which samples a run has and what is known of them before any stage runs.

Discovering the media (``discovery``), reading a label file (``labels``) and making sample
ids from file names (``sample_ids``). Dataset adapters belong here.

May import: the foundations only (``faults``, ``stage_data``, ``run.atomic``); never a stage,
a backend, the run core's upper modules or a report (docs/modules.md, enforced by
``tests/test_layers.py``).
"""
