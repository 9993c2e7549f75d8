"""De-duplication of the reasonings (MERR's fine set drops repeated reasoning), as a
whole-set step over the synthesize stage's records, in the style of datatrove's MinHash
steps: signatures and buckets (``near_duplicates.NearDuplicateIndex``), then for each sample
the smallest other sample id whose reasoning is near-identical (word 3-gram Jaccard at least
``threshold``). Only a sample with a smaller such id is a duplicate: the first of a group
(by id) stays, whatever order the records were made in, in one run or in shards.

The label stage reads each sample's entry (the sample it repeats, or None); the map is also
written to ``<output>/dedup/entries.json`` for people to read.
"""

from __future__ import annotations

from collections.abc import Mapping

from merr_factory.curation.near_duplicates import NearDuplicateIndex
from merr_factory.run.records import Record
from merr_factory.run.whole_set import WholeSetStep
from merr_factory.stage_data import SynthesizeData


class Deduplication(WholeSetStep):
    name = "dedup"
    reads = SynthesizeData.stage

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def compute(self, records: Mapping[str, Record]) -> dict[str, str | None]:
        reasonings = {
            sample_id: text
            for sample_id, record in records.items()
            if (text := SynthesizeData.model_validate(record.data).smp_reason_caption)
        }
        return duplicate_map(reasonings, self.threshold)


def duplicate_map(texts: Mapping[str, str], threshold: float) -> dict[str, str | None]:
    """For each key, the smallest other key with a near-identical text, if smaller; else None."""
    index = NearDuplicateIndex(threshold)
    for key in sorted(texts):
        index.add(key, texts[key])
    answer: dict[str, str | None] = {}
    for key in sorted(texts):
        first = index.first_similar(key, texts[key])
        answer[key] = first if first is not None and first < key else None
    return answer
