"""Audio inspection: the only module that imports mutagen."""

from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

import mutagen
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, Atoms, MP4Info  # type: ignore[attr-defined]

from app.errors import InvalidInput, UnsupportedMedia
from app.text import strip_unrepresentable

ACCEPTED = "MP3 or M4A (AAC/ALAC)"
# Xing/Info headers state the stream's length; a file holding clearly less than that was cut
# short. The slack covers encoder delay and padding, which the stated length leaves out.
_TRUNCATION_SLACK = 0.97


class _MPEGStream(Protocol):  # what mutagen's MPEGInfo has, which its annotations omit
    length: float
    bitrate: int
    sketchy: bool


@dataclass(frozen=True)
class Chapter:
    start_seconds: float
    title: str


@dataclass(frozen=True)
class AudioInfo:
    mime: str
    extension: str
    duration_seconds: float
    bitrate: int
    title: str | None
    chapters: tuple[Chapter, ...] = ()
    cover: bytes | None = None  # embedded cover art, unchecked


def probe(fileobj: BinaryIO, size: int, filename: str) -> AudioInfo:
    if size == 0:
        raise InvalidInput(f"{filename} is empty: upload the episode's audio file.")
    fileobj.seek(0)
    try:
        parsed = mutagen.File(fileobj)
    except mutagen.MutagenError as exc:
        raise InvalidInput(
            f"{filename} could not be read as audio ({exc or 'damaged file'}); "
            "it may be truncated or corrupt. Upload the complete file."
        ) from exc
    if isinstance(parsed, MP3):
        info = _mp3(parsed, size, filename)
    elif isinstance(parsed, MP4):
        info = _mp4(parsed, fileobj, size, filename)
    else:
        kind = type(parsed).__name__ if parsed is not None else "not audio Podpass can read"
        raise UnsupportedMedia(f"{filename} is {kind}; upload {ACCEPTED}.")
    if info.duration_seconds <= 0:
        raise InvalidInput(f"{filename} holds no audio (its duration is zero).")
    return info


def _mp3(parsed: MP3, size: int, filename: str) -> AudioInfo:
    stream = cast(_MPEGStream, parsed.info)
    tag_size = parsed.tags.size if parsed.tags is not None else 0
    if not stream.sketchy and stream.bitrate:
        stated_bytes = stream.bitrate / 8 * stream.length
        if size - tag_size < stated_bytes * _TRUNCATION_SLACK:
            raise InvalidInput(
                f"{filename} is truncated: its header promises {stream.length:.1f} s of audio "
                f"but the file ends early ({size} bytes). Upload the complete file."
            )
    tags = parsed.tags
    if tags is None:
        return AudioInfo("audio/mpeg", "mp3", stream.length, stream.bitrate, None)
    chapters = sorted(
        (
            Chapter(
                frame.start_time / 1000,
                _text(frame.sub_frames.get("TIT2")) or f"Chapter {index + 1}",
            )
            for index, frame in enumerate(tags.getall("CHAP"))
        ),
        key=lambda chapter: chapter.start_seconds,
    )
    covers = tags.getall("APIC")
    return AudioInfo(
        "audio/mpeg",
        "mp3",
        stream.length,
        stream.bitrate,
        _text(tags.get("TIT2")),
        tuple(chapters),
        covers[0].data if covers else None,
    )


def _mp4(parsed: MP4, fileobj: BinaryIO, size: int, filename: str) -> AudioInfo:
    stream = cast(MP4Info, parsed.info)
    codec = stream.codec
    if not (codec.startswith("mp4a") or codec == "alac"):
        raise UnsupportedMedia(f"{filename} is MP4 with codec {codec!r}; upload {ACCEPTED}.")
    fileobj.seek(0)
    last = Atoms(fileobj).atoms[-1]
    if last.offset + last.length > size:
        raise InvalidInput(
            f"{filename} is truncated: its '{last.name.decode('latin-1')}' box needs "
            f"{last.offset + last.length} bytes but the file has {size}. "
            "Upload the complete file."
        )
    tags = parsed.tags
    title = _text(tags.get("\xa9nam")) if tags is not None else None
    covers = tags.get("covr") if tags is not None else None
    chapters = tuple(
        Chapter(chapter.start, _text(chapter.title) or f"Chapter {index + 1}")
        for index, chapter in enumerate(parsed.chapters or ())
    )
    return AudioInfo(
        "audio/x-m4a",
        "m4a",
        stream.length,
        stream.bitrate,
        title,
        chapters,
        bytes(covers[0]) if covers else None,
    )


def _text(frame: object) -> str | None:
    """First value of a tag frame, minus characters XML cannot carry."""
    if frame is None:
        return None
    values = getattr(frame, "text", frame)
    first = values[0] if isinstance(values, list) and values else values
    text = strip_unrepresentable(str(first)).strip()
    return text or None
