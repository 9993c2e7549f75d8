"""Which torch device a backend runs on: every backend's ``device`` setting means the same."""

from __future__ import annotations


def torch_device(requested: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``; anything else is kept."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
