"""How good the dataset is: label sources against the CSV label, the reasoning's grounding,
and the distributions MERR's released fine file shows, side by side with ours.

``report.build_quality`` computes a ``QualityReport`` from the export entries; the export
writes it as ``quality.json`` (with a "Quality" section in the card and the HTML report) and
``merr-build evaluate`` writes it as ``<output>/quality.json`` from the stored records.
"""
