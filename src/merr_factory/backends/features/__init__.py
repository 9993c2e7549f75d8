"""The encoders of the ``features`` stage (Emotion-LLaMA's pre-extracted features) and the
choice of their inputs: which face frames, which 16-frame clips, how a face is cropped.

``inputs`` needs only numpy and Pillow; ``encoders`` needs torch and transformers
(``pip install 'merr-factory[features]'``) and is imported only when the stage loads them.
"""

from __future__ import annotations

from pathlib import Path

# Written by scripts/make_feature_models.py into each random-weight checkpoint it makes: a
# feature computed with such a model is a placeholder, and the export says so everywhere.
PLACEHOLDER_FILE = "PLACEHOLDER.json"


def is_placeholder(model: str) -> bool:
    """True for a local model folder that scripts/make_feature_models.py wrote."""
    return (Path(model).expanduser() / PLACEHOLDER_FILE).is_file()
