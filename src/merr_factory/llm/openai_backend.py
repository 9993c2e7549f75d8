"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio).

The API key is read from the environment variable the settings name, at load time; it is
never logged, stored or put in a cache key.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import threading
import time
from typing import Any

from merr_factory.faults import first_line
from merr_factory.llm.base import (
    Completion,
    GenerationParams,
    LLMBackend,
    LLMError,
    Message,
    TransientLLMError,
)
from merr_factory.llm.settings import LLMSettings
from merr_factory.optional import require

PLACEHOLDER_KEY = "not-needed"  # local servers accept any key; the client insists on one


class OpenAIBackend(LLMBackend):
    name = "openai"
    takes_images = True

    def __init__(self, settings: LLMSettings) -> None:
        if not settings.model:
            raise LLMError("the openai backend needs `model` (e.g. gpt-4o-mini)")
        self.settings = settings
        self._local = threading.local()

    @property
    def model_id(self) -> str:
        return f"{self.settings.model}@{self.settings.base_url or 'api.openai.com'}"

    def load(self) -> None:
        self.client()

    def client(self) -> Any:
        """This thread's ``openai.OpenAI`` client, made on first use.

        One per thread, each with its own connection pool: with one shared client, every
        request and every reply takes the pool's single lock, under which httpcore checks
        each pooled connection; at 32 requests in flight threads spent more time queueing
        for that lock than in everything else of ours together."""
        client = getattr(self._local, "client", None)
        if client is None:
            openai = require("openai", "llm-openai", "the openai LLM backend")
            key_name = self.settings.api_key_env
            key = os.environ.get(key_name) if key_name else None
            client = self._local.client = openai.OpenAI(
                base_url=self.settings.base_url,
                api_key=key or PLACEHOLDER_KEY,
                timeout=self.settings.timeout,
                max_retries=0,  # LLMClient retries with its own backoff and counts the attempts
                **self._plain_http_options(openai),
            )
        return client

    def _plain_http_options(self, openai: Any) -> dict[str, Any]:
        """For an ``http://`` server (a local vLLM, Ollama, llama.cpp), a client that does
        not load the system's certificate store: no TLS connection is ever made to such a
        URL, and loading it costs 36 ms of interpreter time per client, per thread."""
        if not (self.settings.base_url or "").startswith("http://"):
            return {}
        return {"http_client": openai.DefaultHttpxClient(verify=False)}

    def request(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """The JSON body of one chat completion request."""
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [_wire_message(message) for message in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        response_format = self._response_format(params)
        if response_format:
            request["response_format"] = response_format
        return request

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        openai = require("openai", "llm-openai", "the openai LLM backend")
        request = self.request(messages, params)
        start = time.perf_counter()
        try:
            response = self._post(request)
        except (openai.RateLimitError, openai.APITimeoutError, openai.InternalServerError) as e:
            raise TransientLLMError(f"{type(e).__name__}: {_short(e)}") from e
        except openai.APIConnectionError as error:
            raise TransientLLMError(
                f"cannot reach {self.settings.base_url}: {_short(error)}"
            ) from error
        except openai.APIStatusError as error:
            raise LLMError(
                f"{type(error).__name__} ({error.status_code}): {_short(error)}"
            ) from error
        seconds = time.perf_counter() - start
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            seconds=seconds,
        )

    def _post(self, request: dict[str, Any]) -> Any:
        """POST /chat/completions through the client (its auth, errors and connection pool).

        The body is plain JSON built here, so it goes as it is: the client's
        ``chat.completions.create`` would first walk it against its typed parameter
        definitions, which costs about a millisecond of interpreter time per request, the
        budget of a whole request at 32 in flight on two cores."""
        from openai.types.chat import ChatCompletion

        return self.client().post("/chat/completions", body=request, cast_to=ChatCompletion)

    def _response_format(self, params: GenerationParams) -> dict[str, Any] | None:
        mode = self.settings.json_mode
        if params.json_schema is None or mode == "none":
            return None
        if mode == "json_object":
            # llama.cpp's server also constrains to the schema given beside json_object
            return {"type": "json_object", "schema": params.json_schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": params.json_schema, "strict": True},
        }


def _wire_message(message: Message) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        mime = mimetypes.guess_type(image.name)[0] or "image/jpeg"
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
    return {"role": message.role, "content": parts}


def _short(error: Exception) -> str:
    return first_line(error)[:300]
