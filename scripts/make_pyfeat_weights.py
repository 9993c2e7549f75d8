#!/usr/bin/env python3
"""Write a ``weights_dir`` of RANDOM-WEIGHT checkpoints of py-feat's real ``Detectorv2``
architectures, for tests and the CPU batch benchmark (``benchmarks/faces.py --pyfeat-batches``).

py-feat's released weights are on Hugging Face; these are made here, offline, in the layout
py-feat's ``hf_hub_download(cache_dir=...)`` finds (``models--<org>--<name>/snapshots/...``):

- RetinaFace-R34 (``py-feat/retinaface_r34``), seeded random, with its class head set to call
  every 256-pixel anchor of the coarsest level a face (scores near 0.998 that vary a little
  with the picture, so no two anchors tie in py-feat's non-maximum suppression) and its box
  and landmark heads zeroed (the boxes are the anchors), so faces are found whatever the
  picture: after suppression one per frame up to about 100 pixels a side, a few more on
  larger frames;
- the v2 multitask model (ConvNeXtV2 backbone; AU, emotion and mesh heads), seeded random,
  with its config.

The detector then runs at its real cost and gives output of the real shape: the AUs and
emotions mean nothing. Never use these weights for data::

    python scripts/make_pyfeat_weights.py /tmp/feat-weights   # then stages.faces.pyfeat.weights_dir
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def write_hub_file(cache: Path, repo: str, filename: str, tensors: dict, metadata=None) -> None:
    """Put a file where ``hf_hub_download(repo, filename, cache_dir=cache)`` finds it offline."""
    from safetensors.torch import save_file

    base = cache / f"models--{repo.replace('/', '--')}"
    snapshot = base / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True, exist_ok=True)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text("0" * 40)
    tensors = {key: value.contiguous() for key, value in tensors.items()}
    save_file(tensors, str(snapshot / filename), metadata=metadata)


def make_pyfeat_weights(folder: Path, seed: int = 0) -> Path:
    """Write the two checkpoints under ``folder``; returns it (a ``pyfeat.weights_dir``)."""
    import torch
    from feat.face_detectors.Retinaface.Retinaface_test import Retinaface
    from feat.multitask.inference import HF_REPO, HF_WEIGHTS_FILE
    from feat.multitask.model_v2 import MEGraphAUv2, ModelV2Config

    torch.manual_seed(seed)
    state = Retinaface(device="cpu", pretrained="none").net.state_dict()
    for level in range(3):
        weight = state[f"ClassHead._convs.{level}.weight"]
        if level == 2:  # features there are ~100 in size: logits vary by ~0.5
            weight.copy_(torch.randn(weight.shape) * 2e-4)
        else:
            weight.zero_()
        # (background, face) for the level's two anchor sizes: 256 and 512 px at level 2
        logits = [-3.0, 3.0, 3.0, -3.0] if level == 2 else [10.0, -10.0] * 2
        state[f"ClassHead._convs.{level}.bias"].copy_(torch.tensor(logits))
    for key, value in state.items():
        if key.startswith(("BboxHead", "LandmarkHead")):
            value.zero_()
    write_hub_file(folder, "py-feat/retinaface_r34", "model.safetensors", state)
    config = ModelV2Config(pretrained=False)
    model = MEGraphAUv2(config)
    metadata = {"config": json.dumps(dataclasses.asdict(config))}
    write_hub_file(folder, HF_REPO, HF_WEIGHTS_FILE, model.state_dict(), metadata)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write (a pyfeat weights_dir)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_pyfeat_weights(args.out, args.seed))


if __name__ == "__main__":
    main()
