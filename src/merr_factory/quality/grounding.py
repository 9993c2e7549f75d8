"""Is a reasoning grounded in the sample's cues? Rule-based checks on its words.

A reasoning mentions a cue when it uses a word of that cue's vocabulary below:

- face: a word naming the face or an expression ("brow", "smile", "facial", ...) or one of
  the sample's own AU phrases (``visual_prior_list``);
- voice: a word naming the voice ("voice", "tone", "intonation", "pitch", ...);
- speech: a word naming speech ("says", "words", "speaks", ...), a quotation of two or more
  words, or three consecutive words of the transcript.

Checks (each counts the samples it applies to, those that fail, and a few failing ids):

- ``mentions_a_present_cue``: the reasoning mentions at least one cue the sample has;
- ``voice_without_audio``: no voice is mentioned when there is no tone to hear (no audio
  track, or no speech in it: the LLM was told the tone is absent);
- ``words_without_speech``: no speech is mentioned or quoted when ASR found none;
- ``face_without_face``: no face is mentioned when no face was found.

They are deliberately simple: a reasoning can fail them by figure of speech ("the tone of
the scene"), and pass them while being wrong. They count what to look at, with examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

CUES = ("face", "voice", "speech")
EXAMPLES = 5  # failing sample ids kept per check


def vocabulary(words: str) -> frozenset[str]:
    """Whitespace-separated lowercase words as a set."""
    return frozenset(words.split())


FACE_WORDS = vocabulary(
    """face faces facial expression expressions expressive frown frowns frowning frowned
    smile smiles smiling smiled grin grins grinning grimace grimaces scowl scowls scowling
    brow brows eyebrow eyebrows forehead eye eyes eyelid eyelids lid lids gaze stare staring
    lip lips mouth cheek cheeks chin jaw nose dimple dimples dimpled wrinkle wrinkles
    wrinkled"""
)
VOICE_WORDS = vocabulary(
    """voice voices vocal vocally tone tones intonation intonations pitch pitched prosody
    timbre"""
)
SPEECH_WORDS = vocabulary(
    """say says said saying word words speech speak speaks speaking spoke spoken statement
    statements utterance utter utters uttered remark remarks tell tells told telling mention
    mentions mentioned mentioning exclaim exclaims exclaimed talk talks talking talked ask
    asks asked asking subtitle subtitles transcript quote quotes quoted"""
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_QUOTED = re.compile(r"[\"“”«»「」『』]([^\"“”«»「」『』]+)[\"“”«»「」『』]")
QUOTE_RUN = 3  # transcript words in a row that count as quoting it


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroundingCheck(_Model):
    name: str
    rule: str  # what fails it
    checked: int  # samples it applies to
    failed: int
    examples: list[str]  # failing sample ids, the first few by id


class CueMention(_Model):
    present: int  # samples with a reasoning that have the cue
    mentioned: int  # of those, the reasoning mentions it


class Grounding(_Model):
    reasonings: int  # samples with a reasoning (smp_reason_caption)
    checks: list[GroundingCheck]
    cues: dict[str, CueMention]


@dataclass(frozen=True)
class ReasoningFacts:
    """One sample's reasoning and which cues it had."""

    sample_id: str
    text: str
    has_face: bool
    has_tone: bool
    transcript: str  # "" when ASR found no speech
    face_phrases: Sequence[str] = field(default_factory=tuple)

    @property
    def present(self) -> dict[str, bool]:
        return {"face": self.has_face, "voice": self.has_tone, "speech": bool(self.transcript)}


def mentioned_cues(facts: ReasoningFacts) -> dict[str, bool]:
    """Which cues the reasoning mentions (see the module's vocabulary)."""
    lowered = facts.text.lower()
    words = _WORD.findall(lowered)
    vocabulary = set(words)
    phrases = [phrase.lower() for phrase in facts.face_phrases if phrase.strip()]
    return {
        "face": bool(vocabulary & FACE_WORDS) or any(phrase in lowered for phrase in phrases),
        "voice": bool(vocabulary & VOICE_WORDS),
        "speech": bool(vocabulary & SPEECH_WORDS)
        or _quotes(facts.text)
        or _repeats_transcript(words, facts.transcript),
    }


def _quotes(text: str) -> bool:
    return any(len(quoted.split()) >= 2 for quoted in _QUOTED.findall(text))


def _repeats_transcript(words: list[str], transcript: str) -> bool:
    spoken = _WORD.findall(transcript.lower())
    if len(spoken) < QUOTE_RUN:
        return False
    runs = {tuple(spoken[i : i + QUOTE_RUN]) for i in range(len(spoken) - QUOTE_RUN + 1)}
    return any(tuple(words[i : i + QUOTE_RUN]) in runs for i in range(len(words) - QUOTE_RUN + 1))


@dataclass(frozen=True)
class _Check:
    name: str
    rule: str
    applies: Callable[[ReasoningFacts], bool]
    fails: Callable[[ReasoningFacts, dict[str, bool]], bool]


CHECKS = (
    _Check(
        "mentions_a_present_cue",
        "the reasoning mentions none of the cues the sample has (face, voice, speech)",
        lambda facts: any(facts.present.values()),
        lambda facts, said: not any(said[cue] and facts.present[cue] for cue in CUES),
    ),
    _Check(
        "voice_without_audio",
        "the reasoning mentions the voice or tone, but there is no tone to hear "
        "(no audio track, or no speech in it)",
        lambda facts: not facts.has_tone,
        lambda facts, said: said["voice"],
    ),
    _Check(
        "words_without_speech",
        "the reasoning mentions or quotes speech, but ASR found none",
        lambda facts: not facts.transcript,
        lambda facts, said: said["speech"],
    ),
    _Check(
        "face_without_face",
        "the reasoning mentions the face or an expression, but no face was found",
        lambda facts: not facts.has_face,
        lambda facts, said: said["face"],
    ),
)


def grounding(samples: Sequence[ReasoningFacts]) -> Grounding:
    """Run every check over the samples with a reasoning."""
    with_text = sorted((s for s in samples if s.text.strip()), key=lambda s: s.sample_id)
    said = {facts.sample_id: mentioned_cues(facts) for facts in with_text}
    checks = []
    for check in CHECKS:
        applies = [facts for facts in with_text if check.applies(facts)]
        failing = [
            facts.sample_id for facts in applies if check.fails(facts, said[facts.sample_id])
        ]
        checks.append(
            GroundingCheck(
                name=check.name,
                rule=check.rule,
                checked=len(applies),
                failed=len(failing),
                examples=failing[:EXAMPLES],
            )
        )
    cues = {
        cue: CueMention(
            present=sum(facts.present[cue] for facts in with_text),
            mentioned=sum(facts.present[cue] and said[facts.sample_id][cue] for facts in with_text),
        )
        for cue in CUES
    }
    return Grounding(reasonings=len(with_text), checks=checks, cues=cues)
