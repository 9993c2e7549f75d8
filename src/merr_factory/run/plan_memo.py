"""The plan memo: what a full planning pass found, kept so that the next pass over the same
inputs need not work it out again (a no-op re-run or ``status`` over 100k samples).

A verdict is decided by the stages' identities (code version, settings), each sample's raw
inputs (``Stage.source_identity``: the file's size and time, its label row, its curation
row, its path), the stored records, and the whole-set entries, which are decided by the
same records. The memo holds, for one pass that found every (stage, sample) current or
excluded: each stage's identity and seal, the sample list, a digest of each sample's raw
inputs, and each verdict's outcome. A later pass reuses the outcomes only when all of that
is the same: the same stages and identities, every stage still sealed with the same seal
(so no record was written, replaced or removed since: ``store.py``), the same samples in the
same order, and each sample's raw inputs digesting to the same value. Anything else, and the
pass plans every verdict as usual (and may write a new memo). Like the index, it is a cache:
losing it costs time, never correctness.
"""

from __future__ import annotations

import marshal
import sys
from dataclasses import dataclass
from typing import Any

MEMO_FORMAT = 1
KEY_BYTES = 16
# The outcome of one (stage, sample): current and kept, current and halting the sample
# (the filter dropped it), or excluded by a stage above that halted it.
KEPT, HALTED, EXCLUDED = 0, 1, 2


@dataclass
class PlanMemo:
    stages: list[str]
    identities: list[str]
    seals: list[list[int]]
    samples: list[str]
    keys: bytes  # KEY_BYTES per sample: the digest of its raw inputs
    outcomes: bytes  # one code per stage for each sample, sample after sample

    def outcomes_of(self, position: int) -> bytes:
        width = len(self.stages)
        return self.outcomes[position * width : (position + 1) * width]

    def key_of(self, position: int) -> bytes:
        return self.keys[position * KEY_BYTES : (position + 1) * KEY_BYTES]

    def to_bytes(self) -> bytes:
        return marshal.dumps({"format": MEMO_FORMAT, **self.__dict__})

    @classmethod
    def from_bytes(cls, data: bytes) -> PlanMemo | None:
        """The memo in ``data``; None when it is not one (an old format, a damaged file)."""
        try:
            document: Any = marshal.loads(data)
            if not isinstance(document, dict) or document.pop("format", None) != MEMO_FORMAT:
                return None
            memo = cls(**document)
        except (ValueError, EOFError, TypeError):
            return None
        samples, width = len(memo.samples), len(memo.stages)
        if len(memo.keys) != samples * KEY_BYTES or len(memo.outcomes) != samples * width:
            return None
        memo.samples = list(map(sys.intern, memo.samples))
        return memo
