"""The openai-whisper backend's real loading and decoding code, on a checkpoint of the real
Whisper architecture that this test builds (random weights, tiny dimensions, saved the way
openai-whisper's own checkpoints are: ``{"dims": ..., "model_state_dict": ...}``), because the
published checkpoints cannot be downloaded here. Its words are meaningless: the test checks
the loading path, the multilingual flag, language detection, decoding into timed segments, and
the translate task, not the quality of a transcript."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the asr-whisper extra (torch) is not installed")
whisper = pytest.importorskip("whisper", reason="the asr-whisper extra is not installed")

import numpy as np  # noqa: E402
from whisper.model import ModelDimensions, Whisper  # noqa: E402
from whisper.tokenizer import LANGUAGES  # noqa: E402

from merr_factory.backends.asr import AsrOptions, load_asr_backend  # noqa: E402
from merr_factory.media.audio import extract_audio, read_wav_mono  # noqa: E402


def tiny_checkpoint(path: Path, n_vocab: int) -> Path:
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=n_vocab,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = Whisper(dims)
    # openai-whisper leaves this parameter uninitialised (torch.empty): its checkpoints fill it.
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    clip = Path(__file__).parents[1] / "data" / "clips" / "sample_00000001.mp4"
    target = Path(__file__).parent / "_speech.wav"
    try:
        extract_audio(clip, target)
        pcm, _ = read_wav_mono(target)
    finally:
        target.unlink(missing_ok=True)
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32)[: 2 * 16000] / 32768


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory):
    path = tiny_checkpoint(tmp_path_factory.mktemp("whisper") / "tiny.pt", n_vocab=51865)
    return load_asr_backend("whisper", str(path), AsrOptions(device="cpu", beam_size=1))


def test_a_checkpoint_file_loads_on_the_cpu(multilingual) -> None:
    assert multilingual.multilingual
    assert next(multilingual._model.parameters()).device.type == "cpu"


def test_language_is_detected_when_auto(multilingual, speech: np.ndarray) -> None:
    result = multilingual.transcribe(speech, language=None, task="transcribe")
    assert result.language in LANGUAGES
    for segment in result.segments:
        assert 0.0 <= segment.start <= segment.end
        assert isinstance(segment.text, str)
        assert segment.avg_logprob is not None and segment.avg_logprob <= 0
        assert segment.no_speech_prob is not None and 0 <= segment.no_speech_prob <= 1


def test_given_language_and_translate_task_are_used(multilingual, speech: np.ndarray) -> None:
    result = multilingual.transcribe(speech, language="zh", task="translate")
    assert result.language == "zh"


def test_an_english_only_checkpoint_reports_so(tmp_path: Path, speech: np.ndarray) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.en.pt", n_vocab=51864)
    backend = load_asr_backend("whisper", str(path), AsrOptions(device="cpu", beam_size=1))
    assert not backend.multilingual
    assert backend.transcribe(speech, language=None, task="transcribe").language == "en"


def test_a_missing_checkpoint_fails_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"Model .* not found"):
        load_asr_backend("whisper", str(tmp_path / "nope.pt"), AsrOptions(device="cpu"))


def test_an_initial_prompt_is_accepted(tmp_path: Path, speech: np.ndarray) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.pt", n_vocab=51865)
    options = AsrOptions(device="cpu", beam_size=1, initial_prompt="以下是普通话的句子。")
    backend = load_asr_backend("whisper", str(path), options)
    assert backend.transcribe(speech, language="zh", task="transcribe").language == "zh"
