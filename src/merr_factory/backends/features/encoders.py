"""The three encoders of Emotion-LLaMA's pre-extracted features, through transformers.

Each loads once (a hub id or a local folder), runs in ``torch.inference_mode`` in eval mode
(no dropout, no masking), and returns float32 numpy arrays on the CPU. How each pools its
output follows MERTools (zeroQiaoba/MERTools); the utterance-level mean is the stage's.

- ``HubertEncoder``: MER2023/feature_extraction/audio/extract_transformers_embedding.py: the
  whole utterance in one pass through ``Wav2Vec2FeatureExtractor`` and ``HubertModel``, the
  hidden states at ``layers`` summed (MER2023 ran it with ``layer_ids = [-1]``, the last
  layer); one row per 20 ms.
- ``MaeEncoder``: ``ViTMAEModel`` loaded with ``mask_ratio=0.0`` and given an ordered
  ``noise``, so every patch is seen in its own order (no random shuffle); per image, the mean
  of the last hidden state over the patch tokens (the class token left out, as MAE's
  ``global_pool``).
- ``VideoMaeEncoder``: MER2024/feature_extraction/visual/extract_vision_huggingface.py:
  16-frame clips through ``VideoMAEImageProcessor`` and ``VideoMAEModel`` (no mask); the last
  hidden state averaged over each tubelet's patches, one row per tubelet (8 per clip).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from merr_factory.optional import require

EXTRA = "features"


def _libraries(purpose: str) -> tuple[Any, Any]:
    torch = require("torch", EXTRA, purpose)
    transformers = require("transformers", EXTRA, purpose)
    # three models per worker: their "Loading weights" bars would break the run's own bar
    # (a slow load is logged by the runner: "loading its models in this worker")
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers


class HubertEncoder:
    """Audio: HuBERT (``HubertModel``), hidden states at ``layers`` summed, (T, D) per clip."""

    min_samples = 400  # the convolutional front end's receptive field (25 ms at 16 kHz)

    def __init__(self, model: str, device: str, layers: list[int]) -> None:
        self._torch, transformers = _libraries("the features stage (HuBERT)")
        self.device = device
        self.extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(model)
        self.model = transformers.HubertModel.from_pretrained(model).to(device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.sampling_rate = int(self.extractor.sampling_rate)
        states = int(self.model.config.num_hidden_layers) + 1  # the input, then each layer
        outside = [layer for layer in layers if not -states <= layer < states]
        if outside:
            raise ValueError(
                f"HuBERT model {model!r} has {states} hidden states; layers {outside} do not exist"
            )
        self.layers = list(layers)

    def frames(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """(T, D) float32 for mono float ``samples`` in [-1, 1] at ``rate`` Hz."""
        torch = self._torch
        values = self.extractor(samples, sampling_rate=rate, return_tensors="pt").input_values
        with torch.inference_mode():
            out = self.model(values.to(self.device), output_hidden_states=self.layers != [-1])
            if self.layers == [-1]:
                feature = out.last_hidden_state
            else:
                # The last hidden state as transformers 4.x listed it (after the encoder's
                # final layer norm): the same tuple MERTools indexed, whatever the version.
                hidden = (*out.hidden_states[:-1], out.last_hidden_state)
                feature = torch.stack([hidden[layer] for layer in self.layers]).sum(dim=0)
            return feature[0].float().cpu().numpy()


class MaeEncoder:
    """Face images: MAE's ViT encoder (``ViTMAEModel``, nothing masked), (N, D) per batch."""

    def __init__(self, model: str, device: str) -> None:
        self._torch, transformers = _libraries("the features stage (MAE)")
        self.device = device
        self.processor = transformers.ViTImageProcessor.from_pretrained(model)
        self.model = transformers.ViTMAEModel.from_pretrained(model, mask_ratio=0.0)
        self.model.to(device).eval()
        config = self.model.config
        self.dim = int(config.hidden_size)
        self.patches = (int(config.image_size) // int(config.patch_size)) ** 2

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, D) float32: per RGB crop, the mean over patch tokens of the last hidden state."""
        torch = self._torch
        pixels = self.processor(images=crops, return_tensors="pt").pixel_values.to(self.device)
        # Ordered noise: ViTMAE keeps the patches with the smallest noise, in that order.
        order = torch.arange(self.patches, dtype=torch.float32, device=self.device)
        noise = order.expand(len(crops), -1)
        with torch.inference_mode():
            hidden = self.model(pixel_values=pixels, noise=noise).last_hidden_state
            if hidden.shape[1] != self.patches + 1:
                raise RuntimeError(f"MAE saw {hidden.shape[1] - 1} of {self.patches} patches")
            return hidden[:, 1:].mean(dim=1).float().cpu().numpy()


class VideoMaeEncoder:
    """Face clips: VideoMAE (``VideoMAEModel``, no mask), (clips, tubelets, D) per batch."""

    def __init__(self, model: str, device: str) -> None:
        self._torch, transformers = _libraries("the features stage (VideoMAE)")
        self.device = device
        self.processor = transformers.VideoMAEImageProcessor.from_pretrained(model)
        self.model = transformers.VideoMAEModel.from_pretrained(model).to(device).eval()
        config = self.model.config
        self.dim = int(config.hidden_size)
        self.frames_per_clip = int(config.num_frames)
        self.tubelets = self.frames_per_clip // int(config.tubelet_size)

    def embed(self, clips: list[list[np.ndarray]]) -> np.ndarray:
        """(clips, tubelets, D) float32: each tubelet's patches averaged (MERTools)."""
        torch = self._torch
        pixels = self.processor(clips, return_tensors="pt").pixel_values.to(self.device)
        with torch.inference_mode():
            hidden = self.model(pixel_values=pixels).last_hidden_state  # (B, tokens, D)
            per_tubelet = hidden.view(len(clips), self.tubelets, -1, self.dim).mean(dim=2)
            return per_tubelet.float().cpu().numpy()
