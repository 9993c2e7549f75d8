#!/usr/bin/env python3
"""Build a miniature of every supported dataset's layout from the sample clips.

Each miniature has the dataset's exact folder and file names, label-file headers, line ends
and encodings, and its known broken cases (a missing clip, a corrupt one, a malformed line),
with the bundled ``tests/data/clips`` as media; PyAV only, no ffmpeg binary::

    python scripts/make_dataset_miniatures.py OUT_DIR

writes ``OUT_DIR/<dataset>/`` for each dataset (the manifest as ``OUT_DIR/manifest/*.jsonl``
and ``*.csv``). The tests build them in a temporary folder (``tests/datasets/conftest.py``)
and check what each adapter reads against what this script wrote.

The IEMOCAP dialogue is made, not copied: ``DIALOGUE_SECONDS`` of 960 x 270 video, the actor
of the session's gender on the left (clip 1), the other on the right (clip 2 with its red and
blue swapped, so the halves differ in colour), their speech one after the other.
"""

from __future__ import annotations

import argparse
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
CLIPS = REPO_ROOT / "tests" / "data" / "clips"
A, B, C = "sample_00000001.mp4", "sample_00000002.mp4", "samplenew_00000004.mp4"
AVI = "sample_00000003.avi"
FPS = 24
DIALOGUE_SECONDS = 8.0
SAMPLE_RATE = 16000


def copy(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CLIPS / name, target)
    return target


def remux(name: str, target: Path, audio: bool = True) -> Path:
    """The clip's packets in another container (``.flv``), or without its audio."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(CLIPS / name)) as reader, av.open(str(target), "w") as writer:
        streams = [reader.streams.video[0]] + (list(reader.streams.audio[:1]) if audio else [])
        outputs = {stream.index: writer.add_stream_from_template(stream) for stream in streams}
        for packet in reader.demux(streams):
            if packet.dts is None:
                continue
            packet.stream = outputs[packet.stream.index]
            writer.mux(packet)
    return target


def frames_of(name: str) -> list[np.ndarray]:
    with av.open(str(CLIPS / name)) as reader:
        return [frame.to_ndarray(format="rgb24") for frame in reader.decode(video=0)]


def speech_of(name: str) -> np.ndarray:
    """The clip's audio as 16 kHz mono int16."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks = []
    with av.open(str(CLIPS / name)) as reader:
        for frame in reader.decode(audio=0):
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks)


def write_dialogue(target: Path) -> Path:
    """A two-actor dialogue: left = clip 1 (speaks first), right = clip 2, colours swapped."""
    target.parent.mkdir(parents=True, exist_ok=True)
    left, right = frames_of(A), frames_of(B)
    first, second = speech_of(A), speech_of(B)
    audio = np.zeros(int(DIALOGUE_SECONDS * SAMPLE_RATE), dtype=np.int16)
    audio[: len(first)] = first[: len(audio)]
    offset = int(4.7 * SAMPLE_RATE)
    tail = second[: len(audio) - offset]
    audio[offset : offset + len(tail)] = tail
    with av.open(str(target), "w", format="avi") as writer:
        video = writer.add_stream("mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = 960, 270, "yuv420p"
        video.time_base = Fraction(1, FPS)
        sound = writer.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        for index in range(int(DIALOGUE_SECONDS * FPS)):
            picture = np.concatenate(
                [left[index % len(left)], right[index % len(right)][:, :, ::-1]], axis=1
            )
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = index
            writer.mux(video.encode(frame))
        writer.mux(video.encode(None))
        for start in range(0, len(audio), 1024):
            chunk = audio[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            writer.mux(sound.encode(frame))
        writer.mux(sound.encode(None))
    return target


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def corrupt(name: str, target: Path) -> Path:
    """The first 2 kB of a clip: a header that promises what the file does not hold."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((CLIPS / name).read_bytes()[:2048])
    return target


# -- the layouts --------------------------------------------------------------------------------


def mer2023(root: Path) -> None:
    copy(A, root / "train" / "sample_00000001.mp4")
    copy(AVI, root / "train" / "sample_00000003.avi")
    copy(C, root / "train" / "samplenew_00000004.mp4")  # no label row: unlabelled
    copy(B, root / "test1" / "sample_00000002.mp4")
    copy(A, root / "test3" / "sample_00000007.mp4")
    write(
        root / "train-label.csv",
        "name,discrete,valence\nsample_00000001,happy,2.5\nsample_00000003,sad,x\n"
        "sample_00000009,angry,-2\n",
    )
    write(root / "test1-label.csv", "name,discrete,valence\nsample_00000002,worried,-1.0\n")
    write(root / "test3-label.csv", "name,discrete\nsample_00000007,surprise\n")


def mer2024(root: Path) -> None:
    copy(A, root / "video-labeled" / "sample_00000001.mp4")
    copy(AVI, root / "video-labeled" / "sample_00000003.avi")
    copy(C, root / "video-unlabeled-with-test2noise" / "samplenew3_00000004.mp4")
    write(root / "label-disdim.csv", "name,discrete\nsample_00000001,happy\nsample_00000003,sad\n")


def mer2025(
    root: Path,
    train: str = "track1_train_disdim.csv",
    words: tuple[str, str] = ("happy", "worried"),
) -> None:
    copy(A, root / "video" / "sample_00000001.mp4")
    copy(B, root / "video" / "sample_00000002.mp4")
    copy(C, root / "video" / "samplenew3_00000004.mp4")
    copy(C, root / "video" / "samplenew3_00000005.mp4")
    happy, worried = words
    write(root / train, f"name,discrete\nsample_00000001,{happy}\nsample_00000002,{worried}\n")
    candidates = (
        "track_all_candidates.csv"
        if train.endswith("disdim.csv")
        else "track1_track2_candidate.csv"
    )
    write(root / candidates, "name\nsamplenew3_00000004\n")
    write(
        root / "subtitle_chieng.csv",
        "name,chinese,english\nsample_00000001,我们终于赢了,We finally won\n"
        "sample_00000002,,NaN\nsamplenew3_00000004,你好,Hello\n",
    )
    openset = (
        "track2_train_ovmerd.csv" if train.endswith("disdim.csv") else "track2_train_human.csv"
    )
    # MERTools' string_to_list reads quoted lists, bare words in brackets and empty cells
    write(
        root / openset,
        "name,openset\nsample_00000001,\"['happy', 'excited']\"\n"
        'sample_00000002,"[Worried, tired]"\nsamplenew3_00000005,\n',
    )
    write(  # the automatic labels: a clip the human file also names keeps the human words
        root / "track2_train_mercaptionplus.csv",
        "name,openset\nsample_00000001,\"['joyful']\"\nsamplenew3_00000004,\"['calm']\"\n",
    )


def mer2026(root: Path) -> None:
    mer2025(root, train="track1_train.csv", words=("happiness", "worry"))
    # the test labels MERTools reads with with_gt=True, once released
    write(root / "track1_test.csv", "name,discrete\nsamplenew3_00000004,sad\n")


MELD_HEADER = (
    "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
    "StartTime,EndTime\n"
)


def meld(root: Path) -> None:
    labels = root / "data" / "MELD"
    raw = root / "MELD.Raw"
    write(
        labels / "train_sent_emo.csv",
        MELD_HEADER + "1,also I was the point person on my company\u2019s transition,Chandler,"
        'neutral,neutral,0,0,8,21,"00:16:16,059","00:16:21,731"\n'
        '2,Oh my God!,Monica,joy,positive,0,1,8,21,"0:16:21,940","0:16:23,442"\n'
        '3,Ugh.,Ross,disgust,negative,125,3,3,19,"00:14:34,000","00:14:35,000"\n'
        "4,broken,Ross,anger,negative,x,1,3,19,,\n",
        newline="\r\n",
    )
    copy(A, raw / "train" / "train_splits" / "dia0_utt0.mp4")
    copy(B, raw / "train" / "train_splits" / "dia0_utt1.mp4")
    corrupt(A, raw / "train" / "train_splits" / "dia125_utt3.mp4")
    write(
        labels / "dev_sent_emo.csv",
        MELD_HEADER + '1,What?,Joey,surprise,negative,0,0,1,1,"00:01:00,000","00:01:01,000"\n'
        '2,Nothing.,Rachel,sadness,negative,110,7,1,1,"00:02:00,000","00:02:01,000"\n',
        newline="\r\n",
    )
    copy(C, raw / "dev_splits_complete" / "dia0_utt0.mp4")
    copy(C, raw / "dev_splits_complete" / "dia66_utt9.mp4")  # no label row
    write(
        labels / "test_sent_emo.csv",
        MELD_HEADER + '1,Hi.,Phoebe,fear,negative,0,0,2,2,"00:00:01,000","00:00:02,000"\n',
        newline="\r\n",
    )
    copy(A, raw / "output_repeated_splits_test" / "dia0_utt0.mp4")
    copy(A, raw / "output_repeated_splits_test" / "final_videos_testdia101_utt0.mp4")


IEMOCAP_EVALUATION = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[0.5000 - 4.0000]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[4.7000 - 7.5000]\tSes01F_impro01_M000\texc\t[4.0000, 3.5000, 3.0000]
C-E2:\tExcited;\t()

[6.0000 - 7.9000]\tSes01F_impro01_F001\txxx\t[2.0000, 3.0000, 3.0000]

[7.0000 - 6.0000]\tSes01F_impro01_F002\tang\t[1.5000, 4.0000, 4.0000]
[bad line]\tSes01F_impro01_F003
"""
IEMOCAP_TRANSCRIPT = """Ses01F_impro01_F000 [000.5000-004.0000]: Excuse me.
Ses01F_impro01_M000 [004.7000-007.5000]: Do you have your forms?
M: [BREATHING]
Ses01F_impro01_F001 [006.0000-007.9000]: Yeah.
"""


def iemocap(root: Path) -> None:
    dialog = root / "Session1" / "dialog"
    video = write_dialogue(dialog / "avi" / "DivX" / "Ses01F_impro01.avi")
    write(dialog / "avi" / "DivX" / "._Ses01F_impro01.avi", "AppleDouble")
    write(dialog / "EmoEvaluation" / "Ses01F_impro01.txt", IEMOCAP_EVALUATION)
    write(dialog / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e2_cat.txt", "x\n")
    write(dialog / "transcriptions" / "Ses01F_impro01.txt", IEMOCAP_TRANSCRIPT)
    session5 = root / "Session5" / "dialog"
    target = session5 / "avi" / "DivX" / "Ses05M_script01_1.avi"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(video, target)
    write(
        session5 / "EmoEvaluation" / "Ses05M_script01_1.txt",
        "[1.0000 - 3.0000]\tSes05M_script01_1_F000\tfru\t[2.0000, 3.5000, 3.0000]\n",
    )
    write(session5 / "transcriptions" / "Ses05M_script01_1.txt", "")


CREMA_VOTES = '"",A,D,F,H,N,S,fileName,numResponses,agreement,emoVote\n'


def crema_d(root: Path) -> None:
    flash = root / "VideoFlash"
    remux(A, flash / "1001_DFA_HAP_HI.flv")
    remux(B, flash / "1001_IEO_NEU_XX.flv")
    corrupt(C, flash / "1076_MTI_SAD_XX.flv")
    remux(C, flash / "1064_IEO_DIS_MD.flv")
    write(flash / "1002_XYZ_HAP_HI.flv", "not a clip")  # unknown sentence code
    write(root / "AudioWAV" / "1001_DFA_HAP_HI.wav", "")
    write(root / "processedResults" / "tabulatedVotes.csv", CREMA_VOTES)


def ravdess(root: Path) -> None:
    copy(A, root / "Actor_01" / "01-01-03-01-01-01-01.mp4")
    remux(B, root / "Actor_01" / "02-01-05-02-02-01-01.mp4", audio=False)
    copy(C, root / "Actor_02" / "01-01-02-01-01-01-02.mp4")
    copy(C, root / "Actor_02" / "01-01-09-01-01-01-02.mp4")  # no emotion 09
    copy(C, root / "Actor_02" / "01-01-04-01-01-03-02.mp4")  # no repetition 03
    write(root / "Actor_01" / "03-01-03-01-01-01-01.wav", "")


def dfew(root: Path) -> None:
    clips = root / "Clip" / "original"
    copy(A, clips / "00001.mp4")
    copy(B, clips / "00002.mp4")
    copy(C, clips / "00003.mp4")
    split = root / "EmoLabel_DataSplit"
    write(split / "train(single-labeled)" / "set_1.csv", "video_name,label\n1,1\n2,6\n")
    write(split / "test(single-labeled)" / "set_1.csv", "video_name,label\n3,3\n99,2\nx,1\n")
    write(split / "train(single-labeled)" / "set_2.csv", "video_name,label\n3,4\n")
    write(split / "test(single-labeled)" / "set_2.csv", "video_name,label\n1,1\n")


def mafw(root: Path) -> None:
    clips = root / "data" / "clips"
    copy(A, clips / "00025.mp4")
    copy(B, clips / "00026.mp4")
    copy(C, clips / "00027.mp4")
    split = root / "split" / "single" / "no_caption" / "set_1"
    # the single-label split holds only MAFW's 11 words (MAE-DFER's preprocess/mafw.py)
    write(split / "train.txt", "00025.mp4 happiness\n00026.mp4 helplessness\n")
    write(split / "test.txt", "00027.mp4 anxiety\nbroken line here\n")
    write(
        root / "split" / "single" / "with_caption" / "set_1" / "train.txt",
        "00025.mp4\thappiness\tune femme sourit\n",
        encoding="latin-1",
    )


def cmu_mosei(root: Path) -> None:
    copy(A, root / "Raw" / "-3g5yACwYnA" / "1.mp4")
    copy(B, root / "Raw" / "-3g5yACwYnA" / "2.mp4")
    write(
        root / "label.csv",
        "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
        "-3g5yACwYnA,1,We finally won,2.0,,,,Positive,train\n"
        "-3g5yACwYnA,2,It is over,-0.6,,,,Negative,valid\n"
        "-3g5yACwYnA,3,Gone,0.0,,,,Neutral,test\n"
        "../etc,1,Escape,0.0,,,,Neutral,test\n",
    )


def cmu_mosei_raw(root: Path) -> None:
    copy(A, root / "Videos" / "Full" / "Combined" / "zk2jTlAtvSU.mp4")
    write(
        root / "Transcript" / "Segmented" / "Combined" / "zk2jTlAtvSU.txt",
        "zk2jTlAtvSU___0___0.0___2.0___I cannot believe\n"
        "zk2jTlAtvSU___1___2.0___4.5___we finally won\n"
        "zk2jTlAtvSU___2___x___4.5___bad times\n",
    )


def ch_sims(root: Path) -> None:
    copy(B, root / "Raw" / "video_0001" / "0001.mp4")
    write(
        root / "meta.csv",
        "video_id,clip_id,text,label,mode\nvideo_0001,0001,我们终于赢了,0.8,train\n",
    )


def manifest(root: Path) -> None:
    copy(A, root / "media" / "talk.mp4")
    copy(B, root / "media" / "other.mp4")
    write(
        root / "manifest.jsonl",
        '{"path": "media/talk.mp4", "start": 0.5, "end": 2.5, "label": "Happy", '
        '"valence": 0.7, "arousal": 0.4, "scale": "-1..1", "speaker": "s1", "text": "I cannot",'
        ' "language": "en", "split": "train", "session": 3}\n'
        '{"path": "media/talk.mp4", "start": 2.5, "duration": 1.5, "label": "joy", '
        '"split": "dev"}\n'
        '{"path": "media/other.mp4", "id": "other", "label": "sad", "split": "test"}\n'
        "{not json\n"
        '{"path": "media/talk.mp4", "start": 3.0, "end": 1.0, "label": "sad"}\n'
        '{"path": "media/gone.mp4", "label": "sad"}\n',
    )
    write(
        root / "manifest.csv",
        "path,start,end,label,speaker,text,split\n"
        "media/talk.mp4,0.0,2.0,happy,s1,I cannot believe,train\n"
        "media/other.mp4,,,sad,s2,,test\n",
    )
    write(  # an evaluation set: one split, not train
        root / "manifest-test.jsonl",
        '{"path": "media/talk.mp4", "start": 0.0, "end": 2.0, "label": "happy", "split": "test"}\n'
        '{"path": "media/other.mp4", "label": "sad", "split": "test"}\n'
        '{"path": "media/talk.mp4", "start": 3.0, "label": "sad", "split": "test"}\n',  # to the end
    )


BUILDERS = {
    "mer2023": mer2023,
    "mer2024": mer2024,
    "mer2025": mer2025,
    "mer2026": mer2026,
    "meld": meld,
    "iemocap": iemocap,
    "crema-d": crema_d,
    "ravdess": ravdess,
    "dfew": dfew,
    "mafw": mafw,
    "cmu-mosei": cmu_mosei,
    "cmu-mosei-raw": cmu_mosei_raw,
    "ch-sims": ch_sims,
    "manifest": manifest,
}


def build(out: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the miniatures named (all by default) under ``out``; their roots by name."""
    roots = {}
    for name in names or list(BUILDERS):
        roots[name] = out / name
        BUILDERS[name](roots[name])
    return roots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the miniatures into")
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(BUILDERS)}; default all")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BUILDERS))
    if unknown:
        parser.error(f"no miniature named {', '.join(unknown)}")
    for name, root in build(args.out, args.names or None).items():
        print(f"{name}: {root}")


if __name__ == "__main__":
    main()
