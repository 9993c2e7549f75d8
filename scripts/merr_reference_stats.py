"""MERR's released fine-grained file, measured: the reference numbers the quality report shows
beside ours (``src/merr_factory/knowledge/merr_reference.json``).

The file as released is in a public repository (EmotionConflict/merr-reasoning,
``MERR_fine_grained.json``); that copy has a few ``//`` comment lines and line breaks inside
one reasoning, which the loader reads past. The numbers are computed with the package's own
``merr_distributions``, so ours and MERR's are measured the same way.

    python scripts/merr_reference_stats.py MERR_fine_grained.json --commit <sha> \
        [--write src/merr_factory/knowledge/merr_reference.json]

Without ``--write`` it prints the JSON and a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from merr_factory.knowledge.au import MERR_RULES
from merr_factory.quality.distributions import (
    MerrReference,
    ReferenceSource,
    load_released_merr,
    merr_distributions,
)
from merr_factory.run.atomic import write_text_atomic

REPOSITORY = "https://github.com/EmotionConflict/merr-reasoning"
PATH = "MERR_fine_grained.json"
NOTE = (
    "MERR's fine-grained file as the Emotion-LLaMA authors released it (4,487 records), in a "
    "public copy that adds a few // comment lines and line breaks inside one reasoning "
    "(sample_00000023); the records equal the copy's earlier commit b2f68ee6, which has no "
    "comments. Counting all 4,487 gives AU_list length 1 in 2,643 records and 3,052 of 3,135 "
    "within the rule; leaving out sample_00000023 (the record a strict parser of the "
    "annotated copy loses) gives the 2,642 and 3,051 of 3,134 quoted in issue 14."
)
RULES_SOURCE = (
    "DESIGN.md's table of the AU rules seen in MERR's released data "
    "(merr_factory.knowledge.au.MERR_RULES); neutral's rule is empty and is left out"
)


def measure(path: Path, commit: str) -> MerrReference:
    values = load_released_merr(path)
    return MerrReference(
        source=ReferenceSource(repository=REPOSITORY, path=PATH, commit=commit, note=NOTE),
        rules_source=RULES_SOURCE,
        rules={label: list(aus) for label, aus in MERR_RULES.items()},
        script="scripts/merr_reference_stats.py",
        fine=merr_distributions(values.values()),
    )


def summary(reference: MerrReference) -> str:
    fine = reference.fine
    fit = fine.au_list_within_rule
    words = fine.reasoning_words
    assert words is not None
    lengths = ", ".join(f"{n}: {count:,}" for n, count in fine.au_list_length.items())
    return "\n".join(
        [
            f"records: {fine.records:,}",
            f"AU_list length: {lengths}",
            f"AU_list within rule[label]: {fit.within:,} of {fit.records:,} ({fit.rate:.1%})",
            f"reasoning words: {words.min}-{words.max}, mean {words.mean}, "
            f"median {words.median}, {words.percentiles}",
            "labels: " + ", ".join(f"{k} {v:,}" for k, v in fine.labels.items()),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="MERR_fine_grained.json as released")
    parser.add_argument("--commit", required=True, help="the repository commit it came from")
    parser.add_argument("--write", type=Path, help="write the reference JSON here")
    args = parser.parse_args()
    try:
        reference = measure(args.file, args.commit)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(reference.model_dump(mode="json"), indent=1, ensure_ascii=False) + "\n"
    if args.write:
        write_text_atomic(args.write, text)
    else:
        print(text)
    print(summary(reference), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
