"""The scene-description interface: one image in, one short English description out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

# MERR's "visual objective": what is in the frame, not what the person feels (the emotion is
# reasoned about later, from all the cues together).
SCENE_PROMPT = (
    "Describe this video frame in one or two sentences: the person (appearance, posture, "
    "gaze, what they are doing) and the setting. Describe only what is visible; do not name "
    "an emotion."
)


class SceneError(RuntimeError):
    """The vision model could not describe an image."""


class SceneDescriber(ABC):
    """A vision-language model that describes a still image."""

    name: ClassVar[str]

    def __init__(self, model: str, prompt: str = SCENE_PROMPT, max_tokens: int = 96) -> None:
        self.model = model
        self.prompt = prompt
        self.max_tokens = max_tokens

    def setup(self) -> None:
        """Load the model or open the client, once per worker."""
        return None

    @abstractmethod
    def describe(self, image: Path) -> str:
        """A one-paragraph description of ``image``."""


def one_paragraph(text: str) -> str:
    """Model output as one clean paragraph: no line breaks (real or a literal backslash-n, a
    known fault of MER-Factory's captions), no surrounding quotes."""
    cleaned = " ".join(text.replace("\\n", " ").split()).strip().strip('"').strip()
    if not cleaned:
        raise SceneError("the vision model returned an empty description")
    return cleaned
