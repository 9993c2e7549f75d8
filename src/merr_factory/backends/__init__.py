"""Model backends, one module per model family behind a small interface per kind.

- ``faces``: face detection and Action Unit intensities per frame (dlib geometry, py-feat,
  OpenFace).
- ``vision``: an optional scene description of a peak frame by a vision-language model.
"""
