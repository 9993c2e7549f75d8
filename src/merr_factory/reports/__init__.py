"""The reports: views of a run's stored records that change no stage output.

``status`` (where each stage stands), ``run_report`` (one run's summary), ``evaluate`` (the
quality report from the stored records) and ``refresh`` (bring the export and its HTML report
up to date without running a model).

May import: anything below the command line: the run core, the registry, the stages' output
models, export and quality. Only ``cli`` imports a report (docs/modules.md, enforced by
``tests/test_layers.py``).
"""
