"""``merr-build report``: bring the export (and its HTML report) up to date from the stored
records, without running any model, and say where the report is."""

from __future__ import annotations

from merr_factory.export.report import REPORT_FILE
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import Workspace


class ReportError(RuntimeError):
    """The report cannot be built yet; the message says why."""


def refresh_report(workspace: Workspace, progress: bool = False) -> str:
    """Run the export stage over the stored records and return where the report is."""
    if "report" not in workspace.stages["export"].settings.formats:
        raise ReportError("'report' is not in stages.export.formats")
    summary = Runner(workspace, RunOptions(stages=["export"], progress=progress)).run()
    tally = summary.tallies[0]
    key = f"export/{REPORT_FILE}"
    if tally.final == "failed":
        raise ReportError("the export failed; see the log above")
    if workspace.store.files.signature(key) is None:
        raise ReportError(
            f"no export yet: {tally.waiting} samples wait for earlier stages, "
            f"{tally.blocked} are blocked by failures; run the pipeline first"
        )
    return workspace.store.url(key)
