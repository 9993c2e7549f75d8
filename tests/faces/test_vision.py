"""Scene-description backends for the peak frame ("visual objective").

- transformers: a LLaVA checkpoint (real ``LlavaForConditionalGeneration`` architecture,
  CLIP vision tower + Llama text model, tiny sizes, random weights) and its processor, both
  created by the test and loaded through ``AutoProcessor`` / ``AutoModelForImageTextToText``
  exactly as a real model folder is. Its words are random: the test checks the loading,
  the chat template, the image path and the decoding, not the description's meaning.
- openai: no vision model is reachable here, so a local HTTP server stands in for the
  endpoint. The test checks what our client sends (model, image bytes, key from the named
  environment variable) and how it reads the reply; it does not test a model.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from tests.conftest import CLIPS, run_pipeline
from tests.http_stub import send_json

IMAGE = CLIPS / "sample_00000006.jpg"
WORDS = [f"w{i}" for i in range(57)]


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tf = pytest.importorskip("transformers", reason="needs merr-factory[vision-transformers]")
    torch = pytest.importorskip("torch", reason="needs merr-factory[vision-transformers]")
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path_factory.mktemp("tiny-llava")
    words = ["<unk>", "<pad>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", *WORDS]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, "<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = tf.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
        eos_token="</s>", extra_special_tokens={"image_token": "<image>"},
    )  # fmt: skip
    template = (
        "{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}"
        "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}ASSISTANT:"
    )
    processor = tf.LlavaProcessor(
        image_processor=tf.CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=fast, patch_size=8, vision_feature_select_strategy="default",
        chat_template=template, image_token="<image>", num_additional_image_tokens=1,
    )  # fmt: skip
    config = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            image_size=32, patch_size=8, projection_dim=16,
        ),
        text_config=tf.LlamaConfig(
            vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
            bos_token_id=2, eos_token_id=3, pad_token_id=1,
        ),
        image_token_index=4, vision_feature_select_strategy="default", vision_feature_layer=-1,
    )  # fmt: skip
    torch.manual_seed(0)
    tf.LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_transformers_backend_describes_an_image_with_a_real_vlm_architecture(tiny_llava):
    from merr_factory.backends.vision.transformers_vlm import TransformersDescriber

    describer = TransformersDescriber(str(tiny_llava), max_tokens=6)
    describer.setup()
    first = describer.describe(IMAGE)
    assert first == describer.describe(IMAGE)  # greedy decoding: deterministic
    tokens = first.split()
    assert 1 <= len(tokens) <= 6 and set(tokens) <= set(WORDS)  # only new text, decoded


def test_visual_stage_writes_the_scene_description(tiny_llava, write_config) -> None:
    pytest.importorskip("dlib", reason="the dlib backend needs merr-factory[faces-dlib]")
    scene = {"backend": "transformers", "model": str(tiny_llava), "max_tokens": 8}
    path = write_config(stages={"faces": {"backend": "dlib"}, "visual": {"scene": scene}})
    stages = ["ingest", "filter", "faces", "peak", "visual"]
    summary = run_pipeline(path, stages, sample_ids=["sample_00000006"])
    assert summary.failed == 0
    output = Path(yaml.safe_load(path.read_text())["output"])
    record = json.loads((output / "stages" / "visual" / "sample_00000006.json").read_text())
    objective = record["data"]["visual_objective"]
    assert objective and set(objective.split()) <= set(WORDS)


class _Endpoint(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Endpoint.requests.append({"path": self.path, "auth": self.headers["Authorization"],
                                   "body": body})  # fmt: skip
        reply = {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": ' "A woman with dark hair\\nsits\n indoors." '}}],
        }  # fmt: skip
        send_json(self, reply)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Endpoint.requests = []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_openai_backend_sends_the_image_and_the_key_from_the_environment(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openai", reason="needs merr-factory[vision-openai]")
    from merr_factory.backends.vision.openai_chat import OpenAIChatDescriber

    monkeypatch.setenv("MY_VLM_KEY", "secret-123")
    describer = OpenAIChatDescriber("some-vlm", base_url=endpoint, api_key_env="MY_VLM_KEY")
    assert describer.describe(IMAGE) == "A woman with dark hair sits indoors."
    (sent,) = _Endpoint.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer secret-123"
    body = sent["body"]
    assert body["model"] == "some-vlm" and body["temperature"] == 0
    text, image = body["messages"][0]["content"]
    assert "Describe" in text["text"]
    prefix = "data:image/jpeg;base64,"
    assert image["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(image["image_url"]["url"][len(prefix) :]) == IMAGE.read_bytes()


def test_openai_backend_failure_is_one_clear_error() -> None:
    pytest.importorskip("openai", reason="needs merr-factory[vision-openai]")
    from merr_factory.backends.vision.base import SceneError
    from merr_factory.backends.vision.openai_chat import OpenAIChatDescriber

    describer = OpenAIChatDescriber("m", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    with pytest.raises(SceneError, match="scene description request failed"):
        describer.describe(IMAGE)
