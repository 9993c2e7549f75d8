#!/usr/bin/env python3
"""Write small RANDOM-WEIGHT checkpoints of the three encoders of the ``features`` stage.

They have the real architectures (transformers' ``HubertModel``, ``ViTMAEModel``,
``VideoMAEModel``) with the large models' width (hidden size 1024, 16 heads, so every
feature is 1024-d, as Emotion-LLaMA expects), the real input geometry (16 kHz audio and the
same convolution strides; 224-pixel images, 16-pixel patches; 16-frame clips, tubelets of 2)
and the real processors' settings, but only ``--layers`` transformer layers and a small
feed-forward size, so they run in a fraction of a second per clip on a CPU.

The weights are random (seeded: the same seed and torch version give the same files). They
are placeholders for tests and the sample run, NOT trained models: features made with them
carry no information and must never be used to train anything. Nothing is downloaded;
the configs are constructed here. For real features point the stage's settings at the hub
ids or local copies of TencentGameMate/chinese-hubert-large, facebook/vit-mae-large and
MCG-NJU/videomae-large (or the Emotion-LLaMA authors' own MAE/VideoMAE checkpoints)::

    python scripts/make_feature_models.py                   # -> models/placeholder-features/
    python scripts/make_feature_models.py --out /tmp/m --layers 1 --seed 3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from merr_factory.backends.features import PLACEHOLDER_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "models" / "placeholder-features"

HIDDEN = 1024  # the large models' width: every feature is 1024-d
HEADS = 16
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# The folder of each encoder under the output folder (the stage's settings point at them).
FOLDERS = {"hubert": "chinese-hubert-large-random", "mae": "vit-mae-large-random",
           "videomae": "videomae-large-random"}  # fmt: skip
NOTE = (
    "Random-weight placeholder written by scripts/make_feature_models.py (seed {seed}): the "
    "real architecture with {layers} layer(s), not a trained model. Never train on its features."
)


def make_feature_models(
    out: Path = DEFAULT_OUT, seed: int = 0, layers: int = 2, intermediate: int = 256
) -> dict[str, Path]:
    """Write the three placeholder checkpoints under ``out``; returns {encoder: folder}."""
    import torch
    from transformers import (
        HubertConfig,
        HubertModel,
        VideoMAEConfig,
        VideoMAEImageProcessor,
        VideoMAEModel,
        ViTImageProcessor,
        ViTMAEConfig,
        ViTMAEModel,
        Wav2Vec2FeatureExtractor,
    )

    common = {"hidden_size": HIDDEN, "num_attention_heads": HEADS,
              "num_hidden_layers": layers, "intermediate_size": intermediate}  # fmt: skip
    # chinese-hubert-large: HuBERT-large's encoder (layer-norm conv features, pre-norm layers).
    hubert = HubertConfig(
        **common, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True
    )
    # vit-mae-large keeps its pre-training mask ratio; the stage must load it with 0.0.
    mae = ViTMAEConfig(**common, image_size=224, patch_size=16, mask_ratio=0.75)
    videomae = VideoMAEConfig(
        **common, image_size=224, patch_size=16, num_frames=16, tubelet_size=2,
        use_mean_pooling=False, norm_pix_loss=True,
    )  # fmt: skip
    processors = {
        "hubert": Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
            return_attention_mask=False,
        ),
        "mae": ViTImageProcessor(
            do_resize=True, size={"height": 224, "width": 224}, resample=3,
            image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
        ),
        "videomae": VideoMAEImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=2,
            image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
        ),
    }  # fmt: skip
    models = {"hubert": (HubertModel, hubert), "mae": (ViTMAEModel, mae),
              "videomae": (VideoMAEModel, videomae)}  # fmt: skip
    written: dict[str, Path] = {}
    for offset, (name, (model_class, config)) in enumerate(models.items()):
        folder = Path(out) / FOLDERS[name]
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed + offset)
        model = model_class(config).eval()
        model.save_pretrained(folder, safe_serialization=True)
        processors[name].save_pretrained(folder)
        readme = {"note": NOTE.format(seed=seed, layers=layers), "seed": seed,
                  "layers": layers, "intermediate_size": intermediate}  # fmt: skip
        (folder / PLACEHOLDER_FILE).write_text(json.dumps(readme, indent=2) + "\n")
        written[name] = folder
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, default=2, help="transformer layers per model")
    parser.add_argument("--intermediate", type=int, default=256, help="feed-forward size")
    args = parser.parse_args()
    for name, folder in make_feature_models(
        args.out, args.seed, args.layers, args.intermediate
    ).items():
        print(f"{name}: {folder}")


if __name__ == "__main__":
    main()
