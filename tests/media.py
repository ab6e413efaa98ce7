"""Real media for tests: artwork drawn with Pillow, chaptered MP3s tagged with mutagen."""

import io
import shutil
from pathlib import Path

from mutagen.id3 import APIC, CHAP, CTOC, ID3, TIT2, CTOCFlags
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
