"""``LLMClient``: any backend plus the reply cache, retries, the schema check with one repair
attempt, a bound on requests in flight, and usage accounting.

Thread safe: the synthesize stage calls it from several runner threads at once.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from merr_factory.llm.base import (
    Completion,
    GenerationParams,
    LLMBackend,
    LLMError,
    LLMReplyError,
    Message,
)
from merr_factory.llm.cache import ReplyCache, cache_key
from merr_factory.llm.retry import with_retries
from merr_factory.llm.settings import LLMSettings
from merr_factory.stage_data import UsageInfo

ModelT = TypeVar("ModelT", bound=BaseModel)

REPAIR_PROMPT = (
    "Your reply could not be used: {problem}. Reply again with only one JSON object that "
    "matches this JSON schema, and nothing else:\n{schema}"
)


class LLMClient:
    def __init__(
        self,
        backend: LLMBackend,
        settings: LLMSettings,
        cache_dir: Path | None = None,
        repair_prompt: str = REPAIR_PROMPT,
    ) -> None:
        self.backend = backend
        self.repair_prompt = repair_prompt
        self.settings = settings
        self.cache = ReplyCache(cache_dir) if cache_dir is not None and settings.cache else None
        self._slots = threading.BoundedSemaphore(settings.concurrency)

    def params(self, schema: type[BaseModel] | None) -> GenerationParams:
        return GenerationParams(
            temperature=self.settings.temperature,
            max_tokens=self.settings.max_tokens,
            json_schema=_json_schema(schema) if schema is not None else None,
            seed=self.settings.seed,
        )

    def ask(self, messages: list[Message], schema: type[ModelT]) -> tuple[ModelT, UsageInfo]:
        """A reply parsed into ``schema``; raises LLMReplyError (raw reply kept) when the
        reply and its one repair both fail, and TransientLLMError when retries ran out.
        A raised ``LLMError`` carries the ``usage`` of the attempts made until then."""
        usage = UsageInfo()
        try:
            return self._ask(messages, schema, usage), usage
        except LLMError as error:
            error.usage = usage
            raise

    def _ask(self, messages: list[Message], schema: type[ModelT], usage: UsageInfo) -> ModelT:
        params = self.params(schema)
        key = cache_key(self.backend.name, self.backend.model_id, messages, params)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    parsed = parse_reply(hit["text"], schema)
                    usage.cache_hits += 1
                    return parsed
                except ValueError:
                    pass  # an entry that no longer parses (schema changed): ask again
        text = self._call(messages, params, usage)
        try:
            parsed = parse_reply(text, schema)
        except ValueError as problem:
            usage.repairs += 1
            text = self._repair(messages, params, text, str(problem), usage)
            try:
                parsed = parse_reply(text, schema)
            except ValueError as second:
                raise LLMReplyError(f"invalid reply after one repair: {second}", text) from None
        if self.cache is not None:
            self.cache.put(
                key, {"backend": self.backend.name, "model": self.backend.model_id, "text": text}
            )
        return parsed

    def _repair(
        self,
        messages: list[Message],
        params: GenerationParams,
        reply: str,
        problem: str,
        usage: UsageInfo,
    ) -> str:
        schema = json.dumps(params.json_schema, ensure_ascii=False)
        follow_up = [
            *messages,
            Message("assistant", reply),
            Message("user", self.repair_prompt.format(problem=problem, schema=schema).strip()),
        ]
        return self._call(follow_up, params, usage)

    def _call(self, messages: list[Message], params: GenerationParams, usage: UsageInfo) -> str:
        """One request, retried on transient errors; every attempt is counted in ``usage``,
        also when all of them fail."""
        tries = 0

        def attempt() -> Completion:
            nonlocal tries
            tries += 1
            usage.attempts += 1
            with self._slots:
                return self.backend.complete(messages, params)

        try:
            completion, _ = with_retries(
                attempt, self.settings.max_retries, self.settings.retry_base_delay
            )
        finally:
            usage.retries += max(0, tries - 1)
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
        usage.seconds += completion.seconds
        usage.calls += 1
        return completion.text


@functools.lru_cache(maxsize=64)
def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema's JSON schema, built once per schema class (pydantic builds it anew on each
    call, a millisecond a request). Callers never modify it."""
    return schema.model_json_schema()


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_reply(text: str, schema: type[ModelT]) -> ModelT:
    """The reply as ``schema``; ValueError with a short reason when it does not fit.

    Reads the first JSON object in the reply and ignores a Markdown code fence or words
    around it (small local models often ramble on after the object).
    """
    body = _FENCE.sub("", text.strip())
    start = body.find("{")
    if start < 0:
        raise ValueError("no JSON object in the reply")
    try:
        value, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON: {error.msg} at character {error.pos}") from None
    try:
        return schema.model_validate(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'reply'}: {item['msg']}"
            for item in error.errors()[:3]
        )
        raise ValueError(problems) from None
