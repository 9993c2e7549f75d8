"""Decoding only what a reader needs: a plan worked out from the clip's packets.

A video packet holds one frame (libavformat's contract for ``av_read_frame``), so one demux
pass, which reads the packets' timestamps and keyframe flags and decodes nothing, tells
every frame's number and time before a pixel is decoded: the frames in presentation order
are the packets sorted by timestamp. A reader (the sampler, a list of frame numbers) picks
the frames it wants from those times, and the decoder then

- decodes the packets a wanted frame may depend on, and a non-reference frame (one no other
  frame is predicted from: most B-frames) only when that frame is wanted: the decoder drops
  the others unread (``skip_frame = NONREF``, set packet by packet);
- leaves out whole groups of pictures (keyframe to keyframe) that hold no wanted frame,
  unless the next group's wanted frames include leading pictures (shown before that group's
  keyframe, which an open GOP predicts from the group before): the decoder is drained and
  reset before the gap, as after a seek;
- stops after the last wanted frame.

Leaving a group out is done by not decoding its packets rather than by ``container.seek``:
they are read anyway by the demux pass, reading a packet costs a small fraction of decoding
it, and the numbering stays the demux pass's own, with no seek precision to trust.

Numbering is a plain decode's (every frame decoded, numbered from 0 as it comes out): a
packet the demuxer marks discarded (cut by an edit list) is decoded if needed but neither
numbered nor handed out, as a plain decode drops its frame. The one difference: a corrupt
packet whose frame the decoder loses keeps its number here, where a plain decode would
number the frames after it one lower. ``read_packets`` returns None, and the reader decodes
every frame as before, when the numbering cannot be trusted: a packet without a timestamp,
two with the same one, or a stream that does not start with a keyframe (the decoder drops
what comes before it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import av

Action = Literal["decode", "nonref", "leave"]  # decode it | decode it if a reference | neither


@dataclass(frozen=True)
class ClipPackets:
    """A video stream's non-empty packets in decode order (``demux`` order)."""

    pts: list[int]
    keyframe: list[bool]
    shown: list[bool]  # False: discarded by the demuxer (an edit list cut it), never shown

    @property
    def presentation(self) -> list[int]:
        """The timestamps of the frames a plain decode hands out, in order: frame ``i`` has
        timestamp ``presentation[i]``."""
        return sorted(pts for pts, shown in zip(self.pts, self.shown, strict=True) if shown)

    def plan(self, wanted: Collection[int]) -> DecodePlan:
        """What to do with each packet so that the frames numbered ``wanted`` come out."""
        presentation = self.presentation
        index_of = {pts: index for index, pts in enumerate(presentation)}
        wanted_pts = {presentation[index] for index in wanted if 0 <= index < len(presentation)}
        groups = self._groups()
        needed = self._needed_groups(groups, wanted_pts)
        actions: list[Action] = []
        last = -1
        for group, positions in enumerate(groups):
            for position in positions:
                if self.pts[position] in wanted_pts:
                    actions.append("decode")
                    last = position
                else:
                    actions.append("nonref" if needed[group] else "leave")
        return DecodePlan(index_of, wanted_pts, actions, last, len(presentation))

    def _groups(self) -> list[list[int]]:
        """Packet positions cut at each keyframe (the first packet is one)."""
        groups: list[list[int]] = []
        for position, keyframe in enumerate(self.keyframe):
            if keyframe or not groups:
                groups.append([])
            groups[-1].append(position)
        return groups

    def _needed_groups(self, groups: list[list[int]], wanted_pts: set[int]) -> list[bool]:
        """A group is decoded when it holds a wanted frame, or when the next group's wanted
        frames include a leading picture (shown before that group's keyframe)."""
        holds = [any(self.pts[p] in wanted_pts for p in positions) for positions in groups]
        needed = list(holds)
        for group in range(len(groups) - 1):
            following = groups[group + 1]
            key_pts = self.pts[following[0]]
            if any(self.pts[p] < key_pts and self.pts[p] in wanted_pts for p in following):
                needed[group] = True
        return needed


@dataclass
class DecodePlan:
    """Per packet, what the decoder does; the frames' numbers by timestamp."""

    index_of: dict[int, int]  # timestamp -> frame number
    wanted_pts: set[int]
    actions: list[Action]  # by packet position in decode order
    last: int  # position of the last packet to decode (-1: none)
    frames_total: int  # the frames a plain decode would hand out
    frames_decoded: int = field(default=0)  # frames the decoder gave back so far

    def decode(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """The wanted frames as (number, frame), in presentation order."""
        if self.last < 0:
            return
        codec = stream.codec_context
        fed = False  # packets sent since the decoder was last reset
        packets = (packet for packet in container.demux(stream) if packet.size)
        for position, packet in enumerate(packets):
            if position > self.last:
                break
            action = self.actions[position]
            if action == "leave":
                if fed:  # give back what it holds, then forget the group's references
                    yield from self._wanted(codec.decode(None), stream)
                    codec.flush_buffers()
                    fed = False
                continue
            codec.skip_frame = "DEFAULT" if action == "decode" else "NONREF"
            yield from self._wanted(codec.decode(packet), stream)
            fed = True
        yield from self._wanted(codec.decode(None), stream)

    def _wanted(
        self, frames: Iterable[av.VideoFrame], stream: av.VideoStream
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        for frame in frames:
            self.frames_decoded += 1
            if frame.time_base is None:  # drained frames (decode(None)) come without it
                frame.time_base = stream.time_base
            if frame.pts in self.wanted_pts:
                yield self.index_of[frame.pts], frame


def read_packets(
    container: av.container.InputContainer, stream: av.VideoStream
) -> ClipPackets | None:
    """The stream's packets, read without decoding; None when numbering frames by packet
    cannot be trusted (see the module's docstring). Leaves the container at its end."""
    pts: list[int] = []
    keyframe: list[bool] = []
    shown: list[bool] = []
    for packet in container.demux(stream):
        if not packet.size:
            continue
        if packet.pts is None:
            return None
        pts.append(int(packet.pts))
        keyframe.append(bool(packet.is_keyframe))
        shown.append(not packet.is_discard)
    if not pts or not keyframe[0] or len(set(pts)) != len(pts):
        return None
    return ClipPackets(pts, keyframe, shown)
