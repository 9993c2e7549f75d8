"""Action Units as data: FACS names, MERR-style phrase synonyms and MERR's emotion rules.

AU names are OpenFace-style strings ("AU01" ... "AU45") everywhere in the pipeline.
"""

from __future__ import annotations

import re

# MERR's AU vocabulary: OpenFace's 17 intensity AUs, with AU28 (lip suck) where OpenFace has
# AU45 (blink). Blink is kept in per-frame tables but never in rules or peak AU lists.
MERR_VOCABULARY: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU28",
)  # fmt: skip

# FACS names (the first phrase MERR uses for each AU).
AU_NAMES: dict[str, str] = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU11": "nasolabial deepener",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU24": "lip pressor",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU28": "lip suck",
    "AU43": "eyes closed",
    "AU45": "blink",
}

# The phrases a sample's description draws from, MERR style: the FACS name first, then
# plain-language variants (MERR varies the phrase per sample, e.g. AU05 "upper lid raiser" /
# "eyes widened", AU26 "jaw drop" / "wide-mouthed").
AU_SYNONYMS: dict[str, tuple[str, ...]] = {
    "AU01": ("inner brow raiser", "inner brows raised", "raised inner eyebrows"),
    "AU02": ("outer brow raiser", "outer brows raised", "arched eyebrows"),
    "AU04": ("brow lowerer", "furrowed brows", "frowning brows"),
    "AU05": ("upper lid raiser", "eyes widened", "wide-open eyes"),
    "AU06": ("cheek raiser", "raised cheeks", "cheeks lifted"),
    "AU07": ("lid tightener", "narrowed eyes", "tightened eyelids"),
    "AU09": ("nose wrinkler", "wrinkled nose", "nose scrunched"),
    "AU10": ("upper lip raiser", "raised upper lip", "upper lip lifted"),
    "AU12": ("lip corner puller", "smiling", "corners of the mouth raised"),
    "AU14": ("dimpler", "dimpled cheeks", "tightened mouth corners"),
    "AU15": ("lip corner depressor", "mouth corners turned down", "downturned lips"),
    "AU17": ("chin raiser", "raised chin", "chin pushed up"),
    "AU20": ("lip stretcher", "lips stretched", "mouth stretched sideways"),
    "AU23": ("lip tightener", "tightened lips", "lips pressed thin"),
    "AU25": ("lips part", "parted lips", "mouth slightly open"),
    "AU26": ("jaw drop", "wide-mouthed", "mouth hanging open"),
    "AU28": ("lip suck", "lips sucked in", "lips drawn in"),
    "AU45": ("blink", "blinking", "eyes briefly closed"),
}

# MERR's AU rules as seen in the released data (about 95% of its records agree with them).
MERR_RULES: dict[str, tuple[str, ...]] = {
    "happy": ("AU06", "AU12", "AU14"),
    "angry": ("AU04", "AU05", "AU07", "AU10", "AU17", "AU23"),
    "sad": ("AU01", "AU04", "AU14", "AU15"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),
    "worried": ("AU20", "AU28"),
    "doubt": ("AU25",),
    "contempt": ("AU10", "AU12", "AU15", "AU17"),
    "neutral": (),
}

_AU_PATTERN = re.compile(r"^\s*AU\s*0*(\d{1,2})\s*$", re.IGNORECASE)


def normalise_au(name: str) -> str:
    """'au1', 'AU01', ' AU 01 ' -> 'AU01'; raises ValueError for anything else."""
    match = _AU_PATTERN.match(name)
    if not match:
        raise ValueError(f"not an Action Unit name: {name!r} (expected e.g. 'AU01')")
    return f"AU{int(match.group(1)):02d}"


def au_number(name: str) -> int:
    """'AU05' -> 5."""
    return int(normalise_au(name)[2:])


def sort_aus(names: list[str] | set[str] | tuple[str, ...]) -> list[str]:
    """AU names in numeric order, normalised and without duplicates."""
    return sorted({normalise_au(name) for name in names}, key=au_number)


def au_phrases(au: str) -> tuple[str, ...]:
    """The phrases for one AU; its FACS name alone when it has no synonyms."""
    au = normalise_au(au)
    if au in AU_SYNONYMS:
        return AU_SYNONYMS[au]
    return (AU_NAMES.get(au, au),)
