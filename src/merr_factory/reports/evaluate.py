"""``merr-build evaluate``: the quality report from the stored records, without running any
model, written to ``<output>/quality.json`` (the export writes the same report into its own
folder).

The samples evaluated are those whose label record is current: each one's records are
gathered into an export entry as the export stage would (``build_entry``), so the numbers
equal the export's for the same records.
"""

from __future__ import annotations

import logging

from merr_factory.dataset.entry import ExportEntry, build_entry
from merr_factory.dataset.merr import MerrNameError, select_merr
from merr_factory.quality.report import QUALITY_FILE, QualityReport, build_quality, quality_json
from merr_factory.run.planning import Planner, State
from merr_factory.run.workspace import Workspace
from merr_factory.stage_data import UpstreamDataError

log = logging.getLogger(__name__)

LABEL_STAGE = "label"
FEATURES_STAGE = "features"  # not upstream of label, but decides the MERR selection


class EvaluateError(RuntimeError):
    """Nothing can be evaluated yet; the message says why."""


def collect_entries(workspace: Workspace) -> list[ExportEntry]:
    """One export entry per sample whose label record is current."""
    planner = Planner(workspace.stages, workspace.store, workspace.labels, workspace.samples)
    entries = []
    for source in workspace.samples:
        verdict = planner.verdict(LABEL_STAGE, source)
        if verdict.state is not State.DONE:
            continue
        stages = [*planner.upstream(LABEL_STAGE, source), LABEL_STAGE]
        if (
            FEATURES_STAGE in workspace.stages
            and planner.verdict(FEATURES_STAGE, source).state is State.DONE
        ):
            stages.append(FEATURES_STAGE)
        records = workspace.store.read_records(source.id, stages)
        try:
            entries.append(build_entry(source.id, source.path.resolve(), records, workspace.store))
        except (UpstreamDataError, KeyError) as error:
            log.warning("evaluate: %s left out: %s", source.id, error)
    return entries


def evaluate(workspace: Workspace) -> tuple[QualityReport, str]:
    """Compute the report, store it as ``<output>/quality.json``; (report, where it is)."""
    entries = collect_entries(workspace)
    if not entries:
        raise EvaluateError(
            f"nothing to evaluate: none of the {len(workspace.samples)} samples has a current "
            "label record; run the pipeline first"
        )
    try:
        sets = select_merr(entries)
    except MerrNameError as error:
        raise EvaluateError(str(error)) from None
    report = build_quality(entries, sets)
    workspace.store.files.write_bytes(QUALITY_FILE, quality_json(report).encode("utf-8"))
    return report, workspace.store.url(QUALITY_FILE)
