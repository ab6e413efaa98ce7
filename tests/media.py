"""Real media for tests: artwork drawn with Pillow, chaptered MP3s tagged with mutagen, and
damaged versions of both, cut from the real thing."""

import io
import random
import shutil
from pathlib import Path
from typing import Any

from mutagen.id3 import APIC, CHAP, CTOC, ID3, TIT2, CTOCFlags
from mutagen.mp3 import MP3 as MP3File
from PIL import Image

from tests.conftest import MP3


def image(
    width: int = 1400, height: int | None = None, kind: str = "PNG", color: str = "teal"
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height or width), color).save(out, kind)
    return out.getvalue()


def chaptered_mp3(
    directory: Path, chapters: list[tuple[int, str]], cover: bytes | None = None
) -> Path:
    """The test MP3 with ID3 chapter frames (start in ms, title) and optional cover art."""
    path = directory / "chaptered.mp3"
    shutil.copy(MP3, path)
    tags = ID3(path)
    ids = []
    for index, (start, title) in enumerate(chapters):
        end = chapters[index + 1][0] if index + 1 < len(chapters) else 3000
        ids.append(f"ch{index}")
        tags.add(
            CHAP(
                element_id=f"ch{index}",
                start_time=start,
                end_time=end,
                sub_frames=[TIT2(text=[title])],
            )
        )
    tags.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[],
        )
    )
    if cover is not None:
        tags.add(APIC(mime="image/png", type=3, desc="cover", data=cover))
    tags.save()
    return path


def damaged_images() -> dict[str, bytes]:
    """Images whose header is sound (or starts so) but whose body is not."""
    png, jpeg = image(), image(kind="JPEG", color="white")
    scan = jpeg.index(b"\xff\xda")  # start of scan: the compressed pixels follow
    noise = random.Random(9).randbytes(5000)
    return {
        "truncated-ihdr.png": png[:20],
        "half.png": png[: len(png) // 2],
        "no-idat.png": png[:33] + png[-12:],
        "bad-crc.png": png[:-20] + bytes(b ^ 0x55 for b in png[-20:-12]) + png[-12:],
        "garbage-body.jpg": jpeg[: scan + 14] + noise + b"\xff\xd9",
        "half.jpg": jpeg[: len(jpeg) // 2],
    }


def headerless_mp3() -> bytes:
    """The test MP3 without its first frame, LAME's Info header: a stream whose length only
    its frames tell (what lame writes when its output is not seekable)."""
    data = MP3.read_bytes()
    first: int = _stream(data).frame_offset
    second = data.index(data[first : first + 2], first + 4)  # the next frame's sync word
    stripped = data[:first] + data[second:]
    assert _stream(stripped).encoder_info == ""
    return stripped


def _stream(data: bytes) -> Any:
    return MP3File(io.BytesIO(data)).info  # mutagen's MPEGInfo, unannotated


def id3v1_tag() -> bytes:
    return b"TAG" + b"Title".ljust(30, b"\0") + b"\0" * 94 + b"\x0c"


def ape_tag() -> bytes:
    """An APEv2 tag with one item, header and footer."""
    item = (4).to_bytes(4, "little") + (0).to_bytes(4, "little") + b"Album\0" + b"Blah"
    size = len(item) + 32

    def block(flags: int) -> bytes:
        return (
            b"APETAGEX"
            + (2000).to_bytes(4, "little")
            + size.to_bytes(4, "little")
            + (1).to_bytes(4, "little")
            + flags.to_bytes(4, "little")
            + b"\0" * 8
        )

    return block(0xA0000000) + item + block(0x80000000)
