"""The prompt files (package data under ``merr_factory/prompts/``), versioned and hashed.

Changing a prompt's text changes ``PromptSet.identity()``, which is part of the synthesize
stage's fingerprint: outputs made with the old text become stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from merr_factory.run.records import digest

# Bump when the prompts change meaning (the text hash alone already makes outputs stale).
PROMPT_VERSION = "merr-1"
PROMPT_NAMES = ("system", "merr_reasoning", "open_prediction", "judge", "repair")


@dataclass(frozen=True)
class PromptSet:
    version: str
    texts: dict[str, str]

    def identity(self) -> dict[str, str]:
        return {"version": self.version, "text_hash": digest(self.texts)}

    def render(self, name: str, **values: str) -> str:
        return self.texts[name].format(**values).strip()


def load_prompts(folder: Path | None = None) -> PromptSet:
    """The shipped prompts, or those in ``folder`` (same file names, ``<name>.txt``)."""
    texts = {}
    for name in PROMPT_NAMES:
        if folder is not None and (folder / f"{name}.txt").is_file():
            texts[name] = (folder / f"{name}.txt").read_text(encoding="utf-8")
        else:
            shipped = resources.files("merr_factory") / "prompts" / f"{name}.txt"
            texts[name] = shipped.read_text(encoding="utf-8")
    version = PROMPT_VERSION if folder is None else f"{PROMPT_VERSION}+custom"
    return PromptSet(version=version, texts=texts)
