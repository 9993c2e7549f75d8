"""Model backends, one package per kind, one module per model family behind a small interface.

- ``faces``: face detection and Action Unit intensities per frame (dlib geometry, py-feat,
  OpenFace).
- ``vision``: an optional scene description of a peak frame by a vision-language model.
- ``asr``: speech recognition (openai-whisper, faster-whisper, transformers).
- ``tone``: an optional audio-language model that names the tone of voice.
"""
