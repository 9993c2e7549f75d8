"""Optional scene description of a peak frame ("visual objective") by a vision-language model.

- ``openai``: any OpenAI-compatible chat endpoint that accepts an image (vLLM, Ollama,
  llama.cpp server, a hosted API).
- ``transformers``: a local transformers image-text-to-text model.

Both are off by default (``stages.visual.scene.backend: none``).
"""

from merr_factory.backends.vision.base import SCENE_PROMPT, SceneDescriber, SceneError

__all__ = ["SCENE_PROMPT", "SceneDescriber", "SceneError"]
