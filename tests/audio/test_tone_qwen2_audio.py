"""The in-process Qwen2-Audio tone backend on a model of the real Qwen2-Audio architecture that
this test builds (random weights, tiny dimensions) with a processor made here: the real Whisper
feature extractor, a small byte-level BPE tokenizer trained on the prompt's words, and a chat
template in Qwen2-Audio's format (the published 7B model cannot be downloaded here). Its reply
is noise: the test checks loading from a directory, the audio and the prompt reaching the
model, generation, and the judging of the reply against MERR's list; not tone judgement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the tone-qwen2-audio extra is not installed")
transformers = pytest.importorskip("transformers", reason="the tone-qwen2-audio extra is missing")
tokenizers = pytest.importorskip("tokenizers", reason="the tone-qwen2-audio extra is missing")
pytest.importorskip(
    "faster_whisper", reason="the audio extra (faster-whisper's VAD) is not installed"
)

from merr_factory.backends.tone import MAX_ANSWER_CHARS, parse_tone, tone_prompt  # noqa: E402
from merr_factory.backends.tone.qwen2_audio import Qwen2AudioTone  # noqa: E402
from merr_factory.backends.tone.settings import Qwen2AudioSettings  # noqa: E402
from merr_factory.media.audio import extract_audio  # noqa: E402
from merr_factory.prosody.tone import TONES  # noqa: E402

from ..conftest import run_pipeline, tally  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>"]
SPECIALS += ["<|audio_eos|>"]
TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' %}Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_model(folder: Path) -> Path:
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([tone_prompt(), "user assistant Audio 1:"] * 5, trainer)
    tokenizer = transformers.Qwen2TokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    config = transformers.Qwen2AudioConfig(
        audio_config={
            "model_type": "qwen2_audio_encoder",
            "d_model": 64,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 128,
            "num_mel_bins": 128,
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
        },
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    model = transformers.Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    model.save_pretrained(folder)
    processor = transformers.Qwen2AudioProcessor(
        feature_extractor=transformers.WhisperFeatureExtractor(feature_size=128),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
    )
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("qwen2-audio"))


def test_the_backend_hears_the_clip_and_judges_the_reply(
    model_dir: Path, clip, tmp_path: Path
) -> None:
    backend = Qwen2AudioTone(Qwen2AudioSettings(model=str(model_dir), device="cpu"))
    assert all(tone in backend._text for tone in TONES)
    assert "<|AUDIO|>" in backend._text and backend._text.endswith("assistant\n")
    wav = tmp_path / "a.wav"
    extract_audio(clip("sample_00000001.mp4"), wav)
    answer = backend.choose(wav)
    assert isinstance(answer.raw, str) and len(answer.raw) <= MAX_ANSWER_CHARS
    assert answer.tone is None or answer.tone in TONES


def test_the_stage_stores_the_reply_and_keeps_a_valid_tone(model_dir: Path, write_config) -> None:
    settings = {
        "tone_backend": "qwen2-audio",
        "qwen2_audio": {"model": str(model_dir), "device": "cpu"},
    }
    config = write_config(stages={"audio": settings})
    summary = run_pipeline(config, stages=["ingest", "filter", "audio"])
    assert tally(summary, "audio")["failed"] == 0
    out = config.parent / "out"
    data = json.loads((out / "stages" / "audio" / "sample_00000001.json").read_text())["data"]
    assert data["tone_llm_answer"] is not None
    valid = parse_tone(data["tone_llm_answer"]).tone
    if valid is None:  # the usual case for a random model: the rules' tone is kept
        assert data["tone_source"] == "prosody" and data["tone"] in TONES
    else:
        assert (data["tone_source"], data["tone"]) == ("audio_llm", valid)
