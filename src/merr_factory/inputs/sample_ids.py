"""Sample ids: file stems made safe to use as file names inside the output folder.

Names come from outside (clip files, label CSVs), so they are data: an id never holds a path
separator or starts with a dot, and the store refuses anything else.
"""

from __future__ import annotations

import hashlib
import re

SAMPLE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 120


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def safe_sample_id(name: str) -> str:
    """Turn a file stem into a sample id; names that are already safe stay as they are.

    A name that had to change gets a short hash of the original appended, so that two
    different names never end up as the same id ("clip 1" and "clip_1").
    """
    cleaned = _UNSAFE_RUN.sub("_", name).strip("._-")[:_MAX_STEM]
    if cleaned == name and SAMPLE_ID_PATTERN.match(cleaned):
        return cleaned
    return f"{cleaned or 'sample'}-{_short_hash(name)}"


def is_valid_sample_id(sample_id: str) -> bool:
    """True for ids that are safe as a single file name component."""
    return bool(SAMPLE_ID_PATTERN.match(sample_id))
