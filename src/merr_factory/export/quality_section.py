"""The "Quality" section of the dataset card and of the HTML report, and the tables
``merr-build evaluate`` prints: one list of tables from a ``QualityReport``, rendered as
markdown, HTML or plain text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from merr_factory.export.plots import PLOTS_DIR
from merr_factory.export.quality_plots import AU_BY_LABEL_PNG, confusion_png
from merr_factory.knowledge.au import MERR_RULES
from merr_factory.quality.report import QualityReport, label_order, source_name
from merr_factory.tables import render_table

TOP_AUS = 3  # per label, the most frequent peak AUs the AU table names
MAX_DISAGREEMENTS = 50  # rows of the annotators' disagreements the card and report show


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: list[tuple[object, ...]]
    note: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)  # (alt text, path)


def quality_tables(report: QualityReport, plots: bool) -> list[Table]:
    """The section's tables; ``plots``: the PNGs exist under plots/ and are shown."""
    return [
        _sources_table(report, plots),
        _kappa_table(report),
        _grounding_table(report),
        _cues_table(report),
        _merr_table(report),
        _label_share_table(report),
        _au_table(report, plots),
        *_human_tables(report),
    ]


def _human_tables(report: QualityReport) -> list[Table]:
    """People's review (merr-build review), when there is one."""
    human = report.human
    if human is None:
        return []
    pairs = [(k.first, k.second, k.compared, _percent(k.observed), _number(k.kappa))
             for k in human.kappa]  # fmt: skip
    note = f"{human.reviewed} samples reviewed by {', '.join(human.annotators)}."
    if human.fleiss_kappa is not None or human.fleiss_samples:
        note += f" Fleiss' kappa {_number(human.fleiss_kappa)} over {human.fleiss_samples}."
    note += f" They disagree on {len(human.disagreements)}."
    sources = [
        (s.source, s.compared, s.correct, _percent(s.accuracy), s.reference_samples - s.compared)
        for s in human.sources
    ]
    audit = [
        (a.population, a.audited, a.correct, _percent(a.precision),
         f"{_percent(a.low)} - {_percent(a.high)}")
        for a in human.audit
    ]  # fmt: skip
    return [
        Table("Human review: agreement between annotators",
              ("first", "second", "samples", "agree", "Cohen's kappa"), pairs, note),
        Table("Automatic sources against the human labels",
              ("source", "compared", "correct", "accuracy", "no answer"), sources,
              "pipeline: the label the pipeline chose before the review."),
        Table("Precision from the random audit",
              ("population", "audited", "right", "precision", "95% Wilson interval"), audit,
              "Right: accepted with the pipeline's label."),
        Table("Samples the annotators disagree on", ("sample", "verdicts"),
              [(d.sample_id, "; ".join(f"{name}: {v}" for name, v in d.verdicts.items()))
               for d in human.disagreements[:MAX_DISAGREEMENTS]],
              f"The first {MAX_DISAGREEMENTS}; quality.json lists them all."
              if len(human.disagreements) > MAX_DISAGREEMENTS else ""),
    ]  # fmt: skip


def _sources_table(report: QualityReport, plots: bool) -> Table:
    rows = [
        (
            source_name(item),
            item.compared,
            item.correct,
            _percent(item.accuracy),
            item.reference_samples - item.compared,
        )
        for item in report.agreement
    ]
    images = [
        (f"confusion matrix: {source_name(item)} vs the CSV label",
         f"{PLOTS_DIR}/{confusion_png(item.source)}")
        for item in report.agreement
    ] if plots else []  # fmt: skip
    return Table(
        "Label sources against the CSV label",
        ("source", "compared", "correct", "accuracy", "no answer"),
        rows,
        f"Over the {report.csv_labelled} samples with a CSV label (of {report.samples}). The "
        "tone word is compared by valence: its valence against the CSV label's (surprise and "
        "shocked have none and are left out).",
        images,
    )


def _kappa_table(report: QualityReport) -> Table:
    rows = [
        (
            f"{pair.first} / {pair.second}",
            pair.compared,
            _percent(pair.observed),
            _number(pair.kappa),
        )
        for pair in report.kappa
    ]
    return Table(
        "Agreement between sources (Cohen's kappa)",
        ("sources", "compared", "observed agreement", "kappa"),
        rows,
        "Over the samples where both gave a label; kappa is '-' where it is undefined (no "
        "samples, or both gave one and the same label throughout).",
    )


def _grounding_table(report: QualityReport) -> Table:
    grounding = report.grounding
    rows = [
        (check.name, check.rule, check.checked, check.failed, ", ".join(check.examples) or "-")
        for check in grounding.checks
    ]
    return Table(
        "Grounding of the reasoning",
        ("check", "fails when", "checked", "failed", "examples"),
        rows,
        f"Rule-based checks of the {grounding.reasonings} reasonings (smp_reason_caption) "
        "against the sample's cues, by the words they use.",
    )


def _cues_table(report: QualityReport) -> Table:
    rows = [
        (cue, mention.present, mention.mentioned, _share(mention.mentioned, mention.present))
        for cue, mention in report.grounding.cues.items()
    ]
    return Table(
        "Cues the reasoning mentions",
        ("cue", "samples with it", "reasoning mentions it", "share"),
        rows,
    )


def _merr_table(report: QualityReport) -> Table:
    ours, merr = report.fine, report.merr.fine
    rows: list[tuple[object, ...]] = [("records", ours.records, f"{merr.records:,}")]
    for length in (1, 2, 3):
        rows.append(
            (
                f"AU_list of {length} AU{'s' if length > 1 else ''}",
                _count_share(ours.au_list_length.get(length, 0), ours.records),
                _count_share(merr.au_list_length.get(length, 0), merr.records),
            )
        )
    rows.append(
        (
            "AU_list of 4 or more AUs",
            _count_share(_at_least(ours.au_list_length, 4), ours.records),
            _count_share(_at_least(merr.au_list_length, 4), merr.records),
        )
    )
    rows.append(
        (
            "AU_list within rule[label] (labels with a rule)",
            _fit(ours.au_list_within_rule.within, ours.au_list_within_rule.records),
            _fit(merr.au_list_within_rule.within, merr.au_list_within_rule.records),
        )
    )
    rows.append(("peak AU count", _spread(ours.peak_au_count), _spread(merr.peak_au_count)))
    rows.append(("reasoning words", _words(report, "ours"), _words(report, "merr")))
    source = report.merr.source
    return Table(
        "Beside MERR's released fine file",
        ("measure", "this dataset (fine file)", "MERR (fine file)"),
        rows,
        f"MERR: {source.path} of {source.repository} at {source.commit[:12]}, measured by "
        f"{report.merr.script}; the rules are {report.merr.rules_source}.",
    )


def _label_share_table(report: QualityReport) -> Table:
    ours, merr = report.fine, report.merr.fine
    labels = label_order([*ours.labels, *merr.labels])
    rows = [
        (
            label,
            _count_share(ours.labels.get(label, 0), ours.records),
            _count_share(merr.labels.get(label, 0), merr.records),
        )
        for label in labels
    ]
    return Table("Label shares (fine file)", ("label", "this dataset", "MERR"), rows)


def _au_table(report: QualityReport, plots: bool) -> Table:
    ours = report.au_by_label
    rows = []
    for label in label_order([*MERR_RULES, *ours.samples]):
        samples = ours.samples.get(label, 0)
        counts = ours.counts.get(label, {})
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_AUS]
        frequent = ", ".join(f"{au} {_share(n, samples)}" for au, n in top) or "-"
        rule = ", ".join(MERR_RULES.get(label, ())) or "(none)"
        rows.append((label, rule, samples, frequent))
    images = (
        [("AU-by-label co-occurrence, ours beside MERR's", f"{PLOTS_DIR}/{AU_BY_LABEL_PNG}")]
        if plots
        else []
    )
    return Table(
        "Action Units by label",
        ("label", "MERR's rule", "samples with a peak", "most frequent AUs at the peak"),
        rows,
        "Every labelled sample with a peak frame; the plot shows the share of each label's "
        "samples with each AU active at the peak, ours beside MERR's fine file, with MERR's "
        "rule boxed.",
        images,
    )


# -- rendering --------------------------------------------------------------------------------


def quality_markdown(report: QualityReport, plots: bool) -> list[str]:
    lines = [
        "## Quality",
        "",
        "Measured by `merr-build evaluate`; the numbers are in `quality.json`.",
        "",
    ]
    for table in quality_tables(report, plots):
        lines += [f"### {table.title}", ""]
        if table.note:
            lines += [table.note, ""]
        lines += _markdown_table(table.header, table.rows) if table.rows else ["(none)"]
        lines.append("")
        lines += [f"![{alt}]({path})" for alt, path in table.images]
        lines += [""] if table.images else []
    return lines


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(name) for name in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]


def quality_html(report: QualityReport, plots: bool) -> str:
    parts = [
        '<details id="quality"><summary>Quality: label sources against the CSV label, the '
        "reasoning's grounding, the distributions beside MERR's</summary>",
        "<p>Measured by <code>merr-build evaluate</code>; the numbers are in "
        '<a href="quality.json">quality.json</a>.</p>',
    ]
    for table in quality_tables(report, plots):
        parts.append(f"<h3>{html.escape(table.title)}</h3>")
        if table.note:
            parts.append(f"<p>{html.escape(table.note)}</p>")
        parts.append(_html_table(table.header, table.rows) if table.rows else "<p>(none)</p>")
        parts += [
            f'<img src="{html.escape(path)}" alt="{html.escape(alt)}" loading="lazy">'
            for alt, path in table.images
        ]
    parts.append("</details>")
    return "\n".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def quality_text(report: QualityReport) -> str:
    """The tables as plain text, for the terminal."""
    blocks = []
    for table in quality_tables(report, plots=False):
        body = render_table(table.header, table.rows) if table.rows else "(none)"
        blocks.append(f"{table.title}\n{body}")
    return "\n\n".join(blocks)


# -- cells ------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _share(part: int, whole: int) -> str:
    return "-" if not whole else f"{part / whole:.0%}"


def _count_share(part: int, whole: int) -> str:
    return f"{part:,} ({_share(part, whole)})"


def _fit(within: int, records: int) -> str:
    return f"{within:,} of {records:,} ({_share(within, records)})" if records else "-"


def _at_least(counts: Mapping[int, int], smallest: int) -> int:
    return sum(n for length, n in counts.items() if length >= smallest)


def _spread(counts: Mapping[int, int]) -> str:
    """'mean m, range a-b' of a {value: records} histogram."""
    total = sum(counts.values())
    if not total:
        return "-"
    mean = sum(value * n for value, n in counts.items()) / total
    return f"mean {mean:.1f}, range {min(counts)}-{max(counts)}"


def _words(report: QualityReport, which: str) -> str:
    words = report.fine.reasoning_words if which == "ours" else report.merr.fine.reasoning_words
    if words is None:
        return "-"
    return (
        f"{words.min}-{words.max}, mean {words.mean:.1f}, median {words.median:g} "
        f"(p5-p95 {words.percentiles['p5']:g}-{words.percentiles['p95']:g})"
    )
