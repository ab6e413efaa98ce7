"""Audio inspection: the only module that imports mutagen."""

from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

import mutagen
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, Atom, Atoms, MP4Info  # type: ignore[attr-defined]

from app.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from app.text import strip_unrepresentable

ACCEPTED = "MP3 or M4A (AAC/ALAC)"
# Xing/Info headers state the stream's length; a file holding clearly less than that was cut
# short. The slack covers encoder delay and padding, which the stated length leaves out.
_TRUNCATION_SLACK = 0.97

# MPEG audio frame headers (ISO 11172-3 and 13818-3), enough to walk from frame to frame,
# which mutagen does not do: kbit/s by (MPEG-1?, layer) and bitrate index; Hz by version bits.
_KBITS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# Sync, version, layer and sample rate: the same in every frame of one stream.
_STREAM_BITS = 0xFFFE0C00
_READ_BLOCK = 1024 * 1024


class _MPEGStream(Protocol):  # what mutagen's MPEGInfo has, which its annotations omit
    length: float
    bitrate: int
    sketchy: bool
    frame_offset: int  # where the first audio frame starts


# Two-field records like this stand in imports/catalogue.py (_Artwork) and
# portal/service.py (AppLink), each before another record: the same shape, unrelated things.
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
    # Bytes before the first audio frame (an ID3v2 tag; the MP4 boxes before the media data).
    audio_offset: int = 0


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
        info = _mp3(parsed, fileobj, size, filename)
    elif isinstance(parsed, MP4):
        info = _mp4(parsed, fileobj, size, filename)
    else:
        kind = type(parsed).__name__ if parsed is not None else "not audio Podpass can read"
        raise UnsupportedMedia(f"{filename} is {kind}; upload {ACCEPTED}.")
    if info.duration_seconds <= 0:
        raise InvalidInput(f"{filename} holds no audio (its duration is zero).")
    return info


def probe_upload(fileobj: BinaryIO, size: int, filename: str, *, max_bytes: int) -> AudioInfo:
    """An uploaded file (an episode, a welcome recording): within the upload limit, then
    probed."""
    if size > max_bytes:
        raise PayloadTooLarge(
            f"{filename} is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB "
            "(PODPASS_MAX_UPLOAD_MB)."
        )
    return probe(fileobj, size, filename)


def _mp3(parsed: MP3, fileobj: BinaryIO, size: int, filename: str) -> AudioInfo:
    stream = cast(_MPEGStream, parsed.info)
    tag_size = parsed.tags.size if parsed.tags is not None else 0
    if not stream.sketchy and stream.bitrate:
        stated_bytes = stream.bitrate / 8 * stream.length
        if size - tag_size < stated_bytes * _TRUNCATION_SLACK:
            raise InvalidInput(
                f"{filename} is truncated: its header promises {stream.length:.1f} s of audio "
                f"but the file ends early ({size} bytes). Upload the complete file."
            )
    if _ends_mid_frame(fileobj, stream.frame_offset, size):
        raise InvalidInput(
            f"{filename} looks cut short: its last MP3 frame is incomplete. "
            "Upload the complete file."
        )
    tags = parsed.tags
    if tags is None:
        return AudioInfo(
            "audio/mpeg",
            "mp3",
            stream.length,
            stream.bitrate,
            None,
            audio_offset=stream.frame_offset,
        )
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
        audio_offset=stream.frame_offset,
    )


def _ends_mid_frame(fileobj: BinaryIO, first_frame: int, size: int) -> bool:
    """Whether the chain of MPEG frames from `first_frame` runs past the end of the audio: the
    file was cut inside its last frame. Without a Xing/Info header this is the only sign of a
    cut. A chain that breaks first (junk, an unknown tag, free-format bitrate) tells nothing."""
    end = size - _trailing_tags_size(fileobj, size)
    if end <= first_frame:
        return False
    fileobj.seek(first_frame)
    stream = int.from_bytes(fileobj.read(4), "big") & _STREAM_BITS
    position, block_start, block = first_frame, first_frame, b""
    while position < end:
        offset = position - block_start
        if offset + 4 > len(block):
            fileobj.seek(position)
            block, block_start, offset = fileobj.read(_READ_BLOCK), position, 0
        header = block[offset : min(offset + 4, end - block_start)]
        if len(header) < 4:  # the audio ends inside this header
            return _begins_header(header, stream)
        length = _frame_length(header, stream)
        if length is None:
            return False
        position += length
    return position > end


def _begins_header(partial: bytes, stream: int) -> bool:
    """Whether these first bytes of a frame header match the stream's."""
    present = (0xFFFFFFFF << 8 * (4 - len(partial))) & 0xFFFFFFFF
    word = int.from_bytes(partial.ljust(4, b"\0"), "big")
    return word & _STREAM_BITS & present == stream & present


def _frame_length(header: bytes, stream: int) -> int | None:
    """The length in bytes of the frame this header starts, or None if it starts no frame
    of `stream` (or a free-format one, whose length the header does not give)."""
    word = int.from_bytes(header, "big")
    version, layer = word >> 19 & 3, 4 - (word >> 17 & 3)
    bitrate_index, rate_index, padding = word >> 12 & 15, word >> 10 & 3, word >> 9 & 1
    if (
        word & _STREAM_BITS != stream
        or version not in _SAMPLE_RATES
        or layer == 4
        or rate_index == 3
        or bitrate_index in (0, 15)
    ):
        return None
    mpeg1 = version == 3
    bits_per_second = _KBITS[mpeg1, layer][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        return (12 * bits_per_second // sample_rate + padding) * 4
    per_frame = 144 if mpeg1 or layer == 2 else 72
    return per_frame * bits_per_second // sample_rate + padding


def _trailing_tags_size(fileobj: BinaryIO, size: int) -> int:
    """Bytes at the end that hold tags, not audio: an ID3v1 tag, and an APEv2 tag before it."""
    tail = 0
    fileobj.seek(max(size - 128, 0))
    if fileobj.read(3) == b"TAG":
        tail = 128
    fileobj.seek(max(size - tail - 32, 0))
    footer = fileobj.read(32)
    if footer[:8] == b"APETAGEX":
        tag_size = int.from_bytes(footer[12:16], "little")
        has_header = int.from_bytes(footer[20:24], "little") & 0x80000000
        tail += tag_size + (32 if has_header else 0)
    return min(tail, size)


def _mp4(parsed: MP4, fileobj: BinaryIO, size: int, filename: str) -> AudioInfo:
    stream = cast(MP4Info, parsed.info)
    codec = stream.codec
    if not (codec.startswith("mp4a") or codec == "alac"):
        raise UnsupportedMedia(f"{filename} is MP4 with codec {codec!r}; upload {ACCEPTED}.")
    fileobj.seek(0)
    boxes = Atoms(fileobj).atoms
    last = boxes[-1]
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
        audio_offset=_media_data_offset(boxes),
    )


def _media_data_offset(boxes: list[Atom]) -> int:
    """Where the first 'mdat' box's data starts: the audio, after the boxes that describe it
    (all of 'moov' when the file is laid out for streaming)."""
    media = next((box for box in boxes if box.name == b"mdat"), None)
    if media is None:
        return 0
    return int(media.offset + media.length - media.datalength)


def _text(frame: object) -> str | None:
    """First value of a tag frame, minus characters XML cannot carry."""
    if frame is None:
        return None
    values = getattr(frame, "text", frame)
    first = values[0] if isinstance(values, list) and values else values
    text = strip_unrepresentable(str(first)).strip()
    return text or None
