"""The dataset's entries: one sample's stored records gathered into an ``ExportEntry``
(``entry``), and which entries the MERR files hold (``merr``).

Both the export and the quality report read them, so they live below both. May import: the
foundations, the run core's store and records, ``stage_data`` and ``knowledge``; never
export, quality, a stage or a report (docs/modules.md, enforced by ``tests/test_layers.py``).
"""
