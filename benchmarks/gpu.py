"""The GPU benchmark: clips per second of each GPU stage of the ``gpu-node`` recipe on one
GPU, real-size architectures with RANDOM weights, and the hours 73,000 clips would take on
an 8-GPU node with the recipe's allocation.

Run on a machine with one GPU (no network needed; nothing is downloaded)::

    python -m benchmarks.gpu --json gpu.json      # ~5 minutes on an H100, under 8 in all
    python -m benchmarks.gpu --smoke              # every code path on the CPU, tiny sizes
    python -m benchmarks.gpu --parts features,asr --json a.json   # some parts only
    python -m benchmarks.gpu --merge a.json b.json --json gpu.json  # runs of parts: one table

``--smoke`` is what the test suite runs (``tests/benchmarks/test_gpu.py``): the same code
with tiny models and counts on the CPU; its numbers mean nothing. The full run has not been
run on a GPU from this repository yet: its table awaits one (docs/maintainers/benchmark.md).

What each row times (a warm steady state: warm-up passes first, then a fixed count, each
row's timed part well under 60 s on an H100), each in its own child process (its own GPU
memory, a crash or hang costs that row alone, ``--budget`` bounds the whole run):

- faces: py-feat's ``Detectorv2`` (RetinaFace-R34 + the v2 multitask ConvNeXtV2 AU/emotion
  model) through the project's ``PyFeatBackend.detect_frames`` (torchcodec, which py-feat
  imports for its own video reader only, is stood in for where it cannot load), random
  weights from ``scripts/make_pyfeat_weights.py``, batches of 32 frames: 960x540 frames
  shrunk to the stage's ``max_side`` 640 (640x360), one face kept per frame (a talking
  head). Decoding is not timed (a CPU cost of the actor). A clip is ``CLIP_SECONDS`` x
  ``sample_fps`` 5 frames.
- features: the project's ``HubertEncoder`` (10 s of 16 kHz audio, one clip per pass, as the
  stage), ``MaeEncoder`` (32 face crops of 224x224 per pass: the recipe's ``batch_size``;
  every face frame, 50 per clip) and ``VideoMaeEncoder`` (32 // 16 = 2 16-frame clips per
  pass, one per clip), float32 as the stage loads them, random full-size checkpoints from
  ``scripts/make_feature_models.py`` (24 layers, width 1024, feed-forward 4096: the large
  models'). The stage's clips per second: 1 / (the sum of the three's seconds per clip).
- asr: Whisper large-v3's dimensions (32+32 layers, width 1280, 128 mel bins, 51,866 tokens),
  random weights. faster-whisper (CTranslate2, float16) when it loads: the model is built in
  transformers, converted with CTranslate2's own Whisper loader, and given a stand-in
  tokenizer with Whisper's special tokens at their ids (no hub). Else openai-whisper's model
  from ``ModelDimensions`` (its decoder, fp16), and the row says why. A clip is what the
  stage does with the recipe (``language: auto``, ``translate: true``, Mandarin): one
  transcription with language detection and one translation, greedy, each decoding exactly
  ``ASR_TOKENS`` (60) text tokens (the end of text, special and timestamp tokens
  suppressed) of a 10 s clip. faster-whisper's ``max_new_tokens`` is calibrated on the
  warm-up clip until each decode writes exactly that many (the row lists what each wrote).
- llm: a Qwen2.5-7B-Instruct-shaped model (its config written here) in vLLM with
  ``load_format="dummy"`` (random weights), bf16, up to 64 sequences at once (the recipe's
  ``concurrency``), prompts of 600 random token ids (no shared prefix, no prefix cache) and
  exactly 150 completion tokens (``ignore_eos``), as MERR's reasoning calls. Two calls per
  clip (MERR reasoning and the open prediction the label stage checks). Without vLLM on the
  machine the row is skipped and says so (its wheel is far larger than what the device
  tool carries: run it where vLLM is installed).

The projection (``project``), for 73,000 clips on an 8-GPU node:

- a stage's GPUs on the node are the recipe's ``executor.resources``: ``num_gpus`` x
  ``actors`` (faces, asr, features: 0.5 x 4 = 2 each); the LLM gets the rest (8 - 6 = 2);
- a stage's clips per second on the node = its clips per second on the one measured GPU x
  its GPUs. This assumes the actors that share a GPU together reach what one process reaches
  on the whole GPU: right for the batched stages, which keep the GPU busy; a lower bound for
  asr, whose sequential decoding leaves room for a second actor; for the LLM it counts the two
  GPUs as two replicas of 64 in flight each, an upper bound for the recipe's one server with
  tensor parallelism 2 and 64 in flight;
- a stage's hours = 73,000 / (its clips per second on the node) / 3600; the stages stream
  (each on its own GPUs, at once), so the node's hours are the slowest stage's. CPU stages
  (ingest, audio, peak, ...), decoding and the Ray scheduling are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import REPO, child_env

RECIPE = REPO / "configs" / "recipes" / "gpu-node.yaml"
CLIPS = 73_000
NODE_GPUS = 8
CLIP_SECONDS = 10.0
FACE_FPS = 5.0  # the recipe's stages.faces.sample_fps
ASR_TOKENS = 60
LLM_PROMPT_TOKENS = 600
LLM_COMPLETION_TOKENS = 150
LLM_CALLS_PER_CLIP = 2  # merr_reasoning + open_prediction (label: fine_llm_check)
CHILDREN = ("faces", "features", "asr", "llm")
# Seconds each part may take at most (set-up included; vLLM's start compiles and captures
# CUDA graphs), within --budget for the whole run
PART_LIMITS = {"faces": 120.0, "features": 150.0, "asr": 150.0, "llm": 240.0}
SELF = (sys.executable, "-m", "benchmarks.gpu")
# Whisper large-v3: token ids of its special tokens, and its sizes
EOT, SOT, FIRST_LANGUAGE = 50257, 50258, 50259
# Whisper's language tokens, in its order: they follow <|startoftranscript|>
LANGUAGE_CODES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su yue"
)
LANGUAGES = LANGUAGE_CODES.split()
WHISPER_VOCAB = 51866
# Suppressed while decoding: the end of text and every special or timestamp token, so that a
# random model writes exactly the tokens asked for, all text
SPECIAL_TOKENS = list(range(EOT, WHISPER_VOCAB))
# faster-whisper's max_new_tokens does not give that many tokens here (CTranslate2 4.8's
# Whisper wrote about (4 + max_new_tokens) / 2 - 1 of them): the warm-up calibrates it
PROMPT_TOKENS = 4


@dataclass(frozen=True)
class Sizes:
    """What a run measures: the full run's sizes, or ``SMOKE``'s tiny ones."""

    device: str = "cuda"
    frame_width: int = 960
    frame_height: int = 540
    max_side: int = 640  # the faces stage's default max_side (the recipe keeps it)
    face_batch: int = 32  # stages.faces.pyfeat.batch_size
    face_warmup: int = 2
    face_batches: int = 16
    encoder_layers: int = 24
    encoder_intermediate: int = 4096
    feature_batch: int = 32  # stages.features.batch_size
    audio_seconds: float = CLIP_SECONDS
    hubert_clips: int = 48
    mae_batches: int = 24
    videomae_passes: int = 24
    encoder_warmup: int = 2
    whisper_width: int = 1280
    whisper_layers: int = 32
    whisper_heads: int = 20
    whisper_ffn: int = 5120
    asr_tokens: int = ASR_TOKENS
    asr_clips: int = 10
    compute_type: str = "float16"
    llm_requests: int = 192
    llm_concurrency: int = 64  # stages.synthesize.llm.concurrency
    smoke: bool = False


SMOKE = Sizes(
    device="cpu", frame_width=480, frame_height=270, max_side=320, face_batch=1,
    face_warmup=1, face_batches=1, encoder_layers=1, encoder_intermediate=64,
    feature_batch=32, audio_seconds=1.0, hubert_clips=1, mae_batches=1, videomae_passes=1,
    encoder_warmup=1, whisper_width=64, whisper_layers=2, whisper_heads=4, whisper_ffn=128,
    asr_tokens=4, asr_clips=1, compute_type="float32", llm_requests=4, llm_concurrency=4,
    smoke=True,
)  # fmt: skip


@dataclass
class Row:
    """One measured model: ``per_second`` units of ``unit`` a second, ``units_per_clip`` of
    them a clip; ``skipped`` says why it was not measured (then the numbers are 0)."""

    stage: str
    model: str
    unit: str
    per_second: float = 0.0
    units_per_clip: float = 1.0
    count: int = 0
    seconds: float = 0.0
    note: str = ""
    skipped: str = ""

    @property
    def clips_per_second(self) -> float:
        return self.per_second / self.units_per_clip if self.per_second else 0.0


def timed(fn: Any, warmup: int, count: int) -> float:
    """Seconds for ``count`` calls of ``fn`` after ``warmup`` calls (each returns on the CPU)."""
    for _ in range(warmup):
        fn()
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return time.perf_counter() - started


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return "cpu"


def load_script(name: str) -> Any:
    """A module of ``scripts/`` imported from its path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- faces ---------------------------------------------------------------------------


def stub_torchcodec() -> str:
    """py-feat imports torchcodec's ``VideoDecoder`` for its own video reader, which the
    backend does not use (frames come from the project's decoder). Where torchcodec cannot
    load (no FFmpeg libraries, a build for another torch), a stand-in lets py-feat import;
    returns what was done ("" when torchcodec loads)."""
    import types

    try:
        import torchcodec.decoders  # noqa: F401
    except Exception as error:
        stand_in = types.ModuleType("torchcodec.decoders")
        stand_in.VideoDecoder = None  # type: ignore[attr-defined]
        sys.modules["torchcodec"] = types.ModuleType("torchcodec")
        sys.modules["torchcodec.decoders"] = stand_in
        return f"torchcodec stood in for ({type(error).__name__}): py-feat's video reader unused"
    return ""


def measure_faces(sizes: Sizes, folder: Path) -> list[Row]:
    import numpy as np
    import torch
    from PIL import Image

    from merr_factory.backends.faces.pyfeat import PyFeatBackend
    from merr_factory.media.frames import Frame

    torch.set_num_threads(os.cpu_count() or 1)
    stubbed = stub_torchcodec()
    weights = load_script("make_pyfeat_weights").make_pyfeat_weights(folder / "pyfeat")
    backend = PyFeatBackend(
        weights_dir=weights, device=sizes.device, batch_size=sizes.face_batch, emotion_head=True
    )
    backend.setup()
    # The random detector calls a face at every anchor that survives suppression: keep the
    # best one per frame, as in a talking-head clip (benchmarks/faces.py does the same).
    backend._detector.face_detector.keep_top_k = 1
    scale = sizes.max_side / max(sizes.frame_width, sizes.frame_height)
    shrunk = (round(sizes.frame_width * scale), round(sizes.frame_height * scale))
    rng = np.random.default_rng(0)
    frames = []
    for index in range(sizes.face_batch):
        full = rng.integers(0, 256, (sizes.frame_height, sizes.frame_width, 3), dtype=np.uint8)
        rgb = np.asarray(Image.fromarray(full).resize(shrunk, Image.Resampling.BILINEAR))
        frames.append(Frame(index, index / FACE_FPS, rgb, scale))
    found: list[int] = []

    def batch() -> None:
        faces = backend.detect_frames(frames)
        found.append(sum(len(per_frame) for per_frame in faces))

    seconds = timed(batch, sizes.face_warmup, sizes.face_batches)
    count = sizes.face_batches * sizes.face_batch
    note = (
        f"batch {sizes.face_batch}, {sizes.frame_width}x{sizes.frame_height} shrunk to "
        f"{shrunk[0]}x{shrunk[1]}, {found[-1] / sizes.face_batch:.1f} faces/frame, AUs+emotion"
    )
    if stubbed:
        note += f"; {stubbed}"
    model = f"py-feat {backend.model.split(' ', 1)[-1]}"
    return [Row("faces", model, "frames", count / seconds, CLIP_SECONDS * FACE_FPS, count,
                seconds, note)]  # fmt: skip


# --- features ------------------------------------------------------------------------


def measure_features(sizes: Sizes, folder: Path) -> list[Row]:
    import numpy as np
    import torch

    from merr_factory.backends.features.encoders import (
        HubertEncoder,
        MaeEncoder,
        VideoMaeEncoder,
    )

    torch.set_num_threads(os.cpu_count() or 1)
    made = load_script("make_feature_models").make_feature_models(
        folder / "features", layers=sizes.encoder_layers, intermediate=sizes.encoder_intermediate
    )
    size = f"{sizes.encoder_layers} layers, ffn {sizes.encoder_intermediate}, fp32"
    rng = np.random.default_rng(0)
    rows = []

    hubert = HubertEncoder(str(made["hubert"]), sizes.device, [-1])
    audio = (rng.standard_normal(int(sizes.audio_seconds * 16000)) * 0.1).astype(np.float32)
    seconds = timed(lambda: hubert.frames(audio, 16000), sizes.encoder_warmup, sizes.hubert_clips)
    rows.append(Row("features", "HuBERT-large", "clips", sizes.hubert_clips / seconds, 1,
                    sizes.hubert_clips, seconds,
                    f"{sizes.audio_seconds:g} s of audio a pass, {size}"))  # fmt: skip

    mae = MaeEncoder(str(made["mae"]), sizes.device)
    crops = [
        rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(sizes.feature_batch)
    ]
    seconds = timed(lambda: mae.embed(crops), sizes.encoder_warmup, sizes.mae_batches)
    count = sizes.mae_batches * sizes.feature_batch
    rows.append(Row("features", "MAE ViT-large", "face crops", count / seconds,
                    CLIP_SECONDS * FACE_FPS, count, seconds,
                    f"{sizes.feature_batch} crops 224x224 a pass, {size}"))  # fmt: skip

    videomae = VideoMaeEncoder(str(made["videomae"]), sizes.device)
    per_pass = max(1, sizes.feature_batch // videomae.frames_per_clip)
    clips = [crops[: videomae.frames_per_clip] for _ in range(per_pass)]
    seconds = timed(lambda: videomae.embed(clips), sizes.encoder_warmup, sizes.videomae_passes)
    count = sizes.videomae_passes * per_pass
    rows.append(Row("features", "VideoMAE-large", "16-frame clips", count / seconds, 1, count,
                    seconds, f"{per_pass} clips a pass, {size}"))  # fmt: skip
    return rows


# --- asr -----------------------------------------------------------------------------


def whisper_tokenizer_tokens() -> list[str]:
    """Whisper's 51,866 tokens in id order: the 256 byte symbols, stand-ins for the other
    text tokens and the empty token (50256) that marks a multilingual vocabulary, then the
    special tokens at large-v3's ids, then the 1,501 timestamps."""
    from tokenizers import pre_tokenizers

    tokens = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens += [f"w{index}" for index in range(len(tokens), EOT - 1)]
    tokens += [""]  # as in multilingual Whisper's vocabulary: CTranslate2 looks for it
    tokens += ["<|endoftext|>", "<|startoftranscript|>"]
    tokens += [f"<|{code}|>" for code in LANGUAGES]
    tokens += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
               "<|nospeech|>", "<|notimestamps|>"]  # fmt: skip
    tokens += [f"<|{index * 0.02:.2f}|>" for index in range(WHISPER_VOCAB - len(tokens))]
    assert len(tokens) == WHISPER_VOCAB and tokens[FIRST_LANGUAGE] == "<|en|>"
    return tokens


def write_faster_whisper_model(sizes: Sizes, folder: Path) -> Path:
    """A CTranslate2 Whisper of large-v3's shape (``sizes``' in smoke), random weights, with
    a tokenizer and preprocessor config beside it: a folder faster-whisper loads offline."""
    import torch
    import transformers
    from ctranslate2.converters.transformers import WhisperLoader
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokens = whisper_tokenizer_tokens()
    config = transformers.WhisperConfig(
        vocab_size=WHISPER_VOCAB, num_mel_bins=128, d_model=sizes.whisper_width,
        encoder_layers=sizes.whisper_layers, decoder_layers=sizes.whisper_layers,
        encoder_attention_heads=sizes.whisper_heads, decoder_attention_heads=sizes.whisper_heads,
        encoder_ffn_dim=sizes.whisper_ffn, decoder_ffn_dim=sizes.whisper_ffn,
        max_source_positions=1500, max_target_positions=448, pad_token_id=EOT,
        bos_token_id=EOT, eos_token_id=EOT, decoder_start_token_id=SOT,
        begin_suppress_tokens=[220, EOT], suppress_tokens=[],
    )  # fmt: skip
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    loader = WhisperLoader()
    spec = loader.get_model_spec(model)
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [220, EOT]
    spec.config.lang_ids = list(range(FIRST_LANGUAGE, FIRST_LANGUAGE + len(LANGUAGES)))
    half = sizes.whisper_layers // 2
    spec.config.alignment_heads = [
        [layer, head] for layer in range(half, sizes.whisper_layers)
        for head in range(sizes.whisper_heads)
    ]  # fmt: skip
    loader.set_vocabulary(spec, tokens)
    spec.validate()
    spec.optimize(quantization="float16" if sizes.compute_type == "float16" else None)
    out = folder / "faster-whisper"
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    del model, spec
    tokenizer = Tokenizer(models.BPE({token: i for i, token in enumerate(tokens)}, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(tokens[EOT:])
    tokenizer.save(str(out / "tokenizer.json"))
    preprocessor = {"feature_size": 128, "sampling_rate": 16000, "hop_length": 160,
                    "chunk_length": 30, "n_fft": 400}  # fmt: skip
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return out


def faster_whisper_clip(sizes: Sizes, folder: Path) -> tuple[Any, str]:
    """One clip's decoding with faster-whisper (the recipe's backend), and the model's name."""
    from faster_whisper import WhisperModel

    path = write_faster_whisper_model(sizes, folder)
    model = WhisperModel(str(path), device=sizes.device, compute_type=sizes.compute_type,
                         cpu_threads=os.cpu_count() or 1)  # fmt: skip
    options = {"beam_size": 1, "temperature": 0.0, "condition_on_previous_text": False,
               "vad_filter": False, "without_timestamps": True,
               "max_new_tokens": sizes.asr_tokens + PROMPT_TOKENS,
               "suppress_tokens": SPECIAL_TOKENS}  # fmt: skip

    def clip(audio: Any) -> tuple[list[int], str]:
        """Tokens each decode wrote, and the language detected; the first call calibrates
        ``max_new_tokens`` so that each decode writes ``sizes.asr_tokens``."""
        if not calibrated:
            calibrated.append(calibrate(audio))
        heard, info = model.transcribe(audio, language=None, task="transcribe", **options)
        first = [len(segment.tokens) for segment in heard]
        translated, _ = model.transcribe(audio, language=info.language, task="translate",
                                         **options)  # fmt: skip
        return first + [len(segment.tokens) for segment in translated], info.language

    def calibrate(audio: Any) -> int:
        calibrated.append(0)  # clip() runs uncalibrated meanwhile
        for _ in range(5):
            wrote = min(clip(audio)[0])
            if wrote == sizes.asr_tokens:
                break
            asked = options["max_new_tokens"] * sizes.asr_tokens / max(wrote, 1)
            options["max_new_tokens"] = min(440, max(1, round(asked)))
        calibrated.clear()
        return options["max_new_tokens"]

    calibrated: list[int] = []
    return clip, f"faster-whisper {sizes.compute_type}"


def openai_whisper_clip(sizes: Sizes) -> tuple[Any, str]:
    """One clip's decoding with openai-whisper's model (random weights), and its name."""
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=128, n_audio_ctx=1500, n_audio_state=sizes.whisper_width,
        n_audio_head=sizes.whisper_heads, n_audio_layer=sizes.whisper_layers,
        n_vocab=WHISPER_VOCAB, n_text_ctx=448, n_text_state=sizes.whisper_width,
        n_text_head=sizes.whisper_heads, n_text_layer=sizes.whisper_layers,
    )  # fmt: skip
    torch.manual_seed(0)
    # float32 weights and float16 activations on a GPU, as whisper.load_model and its
    # transcribe run them (its layers cast the weights to the input's type)
    model = Whisper(dims).to(sizes.device).eval()
    fp16 = sizes.device.startswith("cuda")

    def decode(mel: Any, task: str, language: str | None) -> Any:
        options = whisper.DecodingOptions(
            task=task, language=language, temperature=0.0, sample_len=sizes.asr_tokens,
            without_timestamps=True, suppress_tokens=SPECIAL_TOKENS, fp16=fp16,
        )  # fmt: skip
        return whisper.decode(model, mel, options)

    def clip(audio: Any) -> tuple[list[int], str]:
        samples = whisper.pad_or_trim(torch.from_numpy(audio))
        mel = whisper.log_mel_spectrogram(samples, n_mels=128).to(sizes.device)
        heard = decode(mel, "transcribe", None)
        translated = decode(mel, "translate", heard.language)
        return [len(heard.tokens), len(translated.tokens)], heard.language

    return clip, "openai-whisper" + (" fp16" if fp16 else "")


def measure_asr(sizes: Sizes, folder: Path, backend: str = "auto") -> list[Row]:
    import numpy as np

    audio = np.random.default_rng(0).standard_normal(int(sizes.audio_seconds * 16000)) * 0.1
    audio = audio.astype(np.float32)
    why_not: list[str] = []
    clip = name = None
    if backend in ("auto", "faster-whisper"):
        try:
            if not sizes.smoke:  # a tiny model first: CTranslate2 may not run on this CUDA
                probe = replace(SMOKE, device=sizes.device, compute_type=sizes.compute_type)
                faster_whisper_clip(probe, folder / "probe")[0](audio)
            clip, name = faster_whisper_clip(sizes, folder)
        except Exception as error:
            if backend != "auto":
                raise
            why_not.append(f"faster-whisper could not run ({type(error).__name__}: {error})")
            clip = None
    if clip is None:
        try:
            clip, name = openai_whisper_clip(sizes)
        except ImportError as error:
            why_not.append(f"openai-whisper is not installed ({error})")
            return [Row("asr", "Whisper large-v3 shape", "clips", skipped="; ".join(why_not))]
    assert clip is not None and name is not None
    decoded: list[tuple[list[int], str]] = []
    seconds = timed(lambda: decoded.append(clip(audio)), 1, sizes.asr_clips)
    shape = "large-v3 shape" if not sizes.smoke else f"{sizes.whisper_layers} layers"
    tokens = sorted({n for clip_tokens, _ in decoded for n in clip_tokens})
    detected = sorted({language for _, language in decoded})
    note = (f"{shape}; per clip: detect+transcribe, translate; tokens per decode {tokens}, "
            f"language detected {detected}")  # fmt: skip
    if why_not:
        note += f"; {why_not[0][:200]}"
    return [Row("asr", f"Whisper ({name})", "clips", sizes.asr_clips / seconds, 1,
                sizes.asr_clips, seconds, note)]  # fmt: skip


# --- llm -----------------------------------------------------------------------------

QWEN_7B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
    "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
    "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 32768,
    "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "hidden_act": "silu",
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_sliding_window": False,
    "sliding_window": 131072, "max_window_layers": 28, "bos_token_id": 151643,
    "eos_token_id": 151645, "attention_dropout": 0.0, "initializer_range": 0.02,
    "use_cache": True,
}  # fmt: skip


def measure_llm(sizes: Sizes, folder: Path) -> list[Row]:
    model = "Qwen2.5-7B shape (vLLM, dummy weights)"
    unit = "calls"
    try:
        import vllm
    except ImportError as error:
        reason = (
            f"vLLM is not installed here ({error}); pip install vllm on a machine with "
            "network (its wheel is far over the device tool's 64 MiB carry) and rerun"
        )
        return [Row("llm", model, unit, units_per_clip=LLM_CALLS_PER_CLIP, skipped=reason)]
    if sizes.smoke:
        return [Row("llm", model, unit, units_per_clip=LLM_CALLS_PER_CLIP,
                    skipped="smoke: vLLM's row needs a GPU")]  # fmt: skip
    import numpy as np

    path = folder / "qwen2.5-7b-shape"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(QWEN_7B))
    llm = vllm.LLM(
        model=str(path), load_format="dummy", skip_tokenizer_init=True, dtype="bfloat16",
        max_model_len=LLM_PROMPT_TOKENS + LLM_COMPLETION_TOKENS + 16,
        max_num_seqs=sizes.llm_concurrency, gpu_memory_utilization=0.85, seed=0,
        enable_prefix_caching=False,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    prompts = [
        {"prompt_token_ids": rng.integers(1000, 150000, LLM_PROMPT_TOKENS).tolist()}
        for _ in range(sizes.llm_requests + sizes.llm_concurrency)
    ]
    warm = vllm.SamplingParams(max_tokens=8, ignore_eos=True, detokenize=False)
    llm.generate(prompts[: sizes.llm_concurrency], warm, use_tqdm=False)
    params = vllm.SamplingParams(
        max_tokens=LLM_COMPLETION_TOKENS, min_tokens=LLM_COMPLETION_TOKENS, ignore_eos=True,
        temperature=0.0, detokenize=False,
    )  # fmt: skip
    started = time.perf_counter()
    outputs = llm.generate(prompts[sizes.llm_concurrency :], params, use_tqdm=False)
    seconds = time.perf_counter() - started
    lengths = sorted({len(output.outputs[0].token_ids) for output in outputs})
    note = (f"vLLM {vllm.__version__}, bf16, {LLM_PROMPT_TOKENS} prompt + {lengths} completion "
            f"tokens, {sizes.llm_concurrency} at once")  # fmt: skip
    return [Row("llm", model, unit, len(outputs) / seconds, LLM_CALLS_PER_CLIP, len(outputs),
                seconds, note)]  # fmt: skip


MEASURES = {"faces": measure_faces, "features": measure_features, "asr": measure_asr,
            "llm": measure_llm}  # fmt: skip


def child(name: str, sizes: Sizes, asr_backend: str) -> dict[str, Any]:
    """Run in a child process: one part's rows and the device's name."""
    with tempfile.TemporaryDirectory(prefix="merr-gpu-bench-") as folder:
        if name == "asr":
            rows = measure_asr(sizes, Path(folder), asr_backend)
        else:
            rows = MEASURES[name](sizes, Path(folder))
    return {"device": device_name(sizes.device), "rows": [asdict(row) for row in rows]}


# --- the run and the projection --------------------------------------------------------


def allocation(recipe: Path = RECIPE, node_gpus: int = NODE_GPUS) -> dict[str, float]:
    """GPUs per stage on the node: the recipe's num_gpus x actors; the LLM gets the rest."""
    resources = yaml.safe_load(recipe.read_text())["executor"]["resources"]
    gpus = {stage: float(r["num_gpus"]) * int(r["actors"]) for stage, r in resources.items()}
    gpus["llm"] = node_gpus - sum(gpus.values())
    return gpus


def stage_rates(rows: list[Row]) -> dict[str, float]:
    """Clips per second of each stage on one GPU: a stage of several models (features) runs
    them one after the other, so its seconds per clip are their sum. 0: not measured."""
    seconds: dict[str, float] = {}
    for row in rows:
        if row.skipped or not row.per_second:
            seconds[row.stage] = float("inf")
        else:
            seconds[row.stage] = seconds.get(row.stage, 0.0) + 1 / row.clips_per_second
    return {stage: (1 / s if s != float("inf") else 0.0) for stage, s in seconds.items()}


def project(rows: list[Row], gpus: dict[str, float], clips: int = CLIPS) -> dict[str, Any]:
    """Each stage's clips/s on the node (one GPU's x its GPUs) and hours for ``clips``; the
    node's hours are the slowest stage's (the stages run at once, each on its GPUs)."""
    stages = {}
    for stage, rate in stage_rates(rows).items():
        node_rate = rate * gpus.get(stage, 0.0)
        hours = clips / node_rate / 3600 if node_rate else None
        stages[stage] = {"gpu_clips_per_s": rate, "gpus": gpus.get(stage, 0.0),
                         "node_clips_per_s": node_rate, "hours": hours}  # fmt: skip
    known = {stage: s["hours"] for stage, s in stages.items() if s["hours"] is not None}
    bound = max(known, key=lambda stage: known[stage]) if known else None
    return {"clips": clips, "stages": stages, "bound_by": bound,
            "hours": known[bound] if bound else None,
            "unmeasured": sorted(set(stages) - set(known))}  # fmt: skip


def run_child(name: str, args: argparse.Namespace, timeout: float) -> dict[str, Any]:
    command = [*SELF, "--child", name, "--asr-backend", args.asr_backend]
    if args.smoke:
        command.append("--smoke")
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                              timeout=max(timeout, 1), check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:.0f} s (its limit, or --budget)"}
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    tail = (done.stderr or done.stdout).strip().splitlines()
    return {"error": (tail[-1] if tail else f"exit {done.returncode}")[:200]}


def table(device: str, rows: list[Row], projection: dict[str, Any]) -> str:
    lines = [
        f"Samples per second on one GPU ({device}), random weights, warm:",
        "",
        "| stage | model | measured | per second | per clip | clips/s (1 GPU) | note |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        if row.skipped:
            lines.append(f"| {row.stage} | {row.model} | {row.unit} | - | "
                         f"{row.units_per_clip:g} | - | skipped: {row.skipped} |")  # fmt: skip
        else:
            lines.append(
                f"| {row.stage} | {row.model} | {row.unit} | {row.per_second:.3g} | "
                f"{row.units_per_clip:g} | {row.clips_per_second:.3g} | {row.note} |"
            )
    lines += [
        "",
        f"Projection: {projection['clips']:,} clips on an {NODE_GPUS}-GPU node "
        f"({RECIPE.relative_to(REPO)}'s allocation):",
        "",
        "| stage | clips/s (1 GPU) | GPUs | clips/s (node) | hours |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, s in projection["stages"].items():
        hours = f"{s['hours']:.2f}" if s["hours"] is not None else "not measured"
        lines.append(f"| {stage} | {s['gpu_clips_per_s']:.3g} | {s['gpus']:g} | "
                     f"{s['node_clips_per_s']:.3g} | {hours} |")  # fmt: skip
    if projection["hours"] is not None:
        lines.append(f"\nNode: {projection['hours']:.2f} h, bound by {projection['bound_by']}"
                     + (f" (not measured: {', '.join(projection['unmeasured'])})"
                        if projection["unmeasured"] else ""))  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (tests)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--parts", default=",".join(CHILDREN), help="of " + ",".join(CHILDREN))
    parser.add_argument("--asr-backend", default="auto",
                        choices=["auto", "faster-whisper", "whisper"])  # fmt: skip
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all parts")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="JSON files of runs of some parts each: one table of all")  # fmt: skip
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.json)
    sizes = SMOKE if args.smoke else Sizes()
    if args.smoke:  # a busy CPU is slow: no GPU limits
        args.budget = max(args.budget, 1800.0)
    if args.child:
        result = child(args.child, sizes, args.asr_backend)
        print(json.dumps(result))
        return result
    started = time.monotonic()
    device, rows = "?", []
    for name in [part for part in args.parts.split(",") if part]:
        left = args.budget - (time.monotonic() - started)
        limit = left if args.smoke else min(PART_LIMITS.get(name, left), left)
        result = run_child(name, args, limit)
        if "error" in result:
            rows.append(Row(name, "-", "-", skipped=f"failed: {result['error']}"))
            print(f"{name}: failed: {result['error']}", file=sys.stderr)
            continue
        device = result["device"] if device == "?" else device
        for found in result["rows"]:
            rows.append(Row(**found))
        print(f"{name}: done at {time.monotonic() - started:.0f} s", file=sys.stderr)
    projection = project(rows, allocation())
    print(table(device, rows, projection))
    print(f"\nwall time: {time.monotonic() - started:.0f} s")
    results = {"device": device, "smoke": args.smoke, "sizes": asdict(sizes),
               "rows": [{**asdict(row), "clips_per_second": row.clips_per_second}
                        for row in rows],
               "projection": projection,
               "wall_seconds": time.monotonic() - started}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def merge(paths: list[Path], out: Path | None) -> dict[str, Any]:
    """The rows of several runs' JSON (e.g. two calls of a lent machine, each with the wheels
    of some parts) in one table and projection; a stage takes the last run that measured it."""
    runs = [json.loads(path.read_text()) for path in paths]
    devices = sorted({run["device"] for run in runs if run["device"] != "?"})
    kept: dict[str, list[Row]] = {}
    for run in runs:
        rows = [Row(**{k: v for k, v in row.items() if k != "clips_per_second"})
                for row in run["rows"]]  # fmt: skip
        for stage in dict.fromkeys(row.stage for row in rows):
            measured = [row for row in rows if row.stage == stage]
            if stage not in kept or not any(row.skipped for row in measured):
                kept[stage] = measured
    order = sorted(kept, key=lambda stage: CHILDREN.index(stage) if stage in CHILDREN else 9)
    rows = [row for stage in order for row in kept[stage]]
    device = " + ".join(devices) or "?"
    projection = project(rows, allocation())
    print(table(device, rows, projection))
    results = {"device": device, "smoke": any(run["smoke"] for run in runs),
               "merged": [str(path) for path in paths],
               "rows": [{**asdict(row), "clips_per_second": row.clips_per_second}
                        for row in rows],
               "projection": projection}  # fmt: skip
    if out:
        out.write_text(json.dumps(results, indent=2))
    return results


__all__ = ["SMOKE", "Row", "Sizes", "allocation", "main", "merge", "project", "stage_rates"]

if __name__ == "__main__":
    main()
