"""Artwork: checked, stored, and drawn for shows that have none yet. The only module that
imports Pillow."""

import io
import logging
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from app.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

logger = logging.getLogger(__name__)

# Apple's artwork rules: JPEG or PNG, square, 1400 to 3000 pixels a side.
MIN_SIDE, MAX_SIDE = 1400, 3000
MAX_BYTES = 20 * 1024 * 1024  # more than any podcast app wants
# How probe_artwork refuses artwork, for callers that leave unusable artwork out.
REFUSALS = (InvalidInput, PayloadTooLarge, UnsupportedMedia)
_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
# Stored artwork's file extension, and the type it is served as.
ARTWORK_TYPES = {extension: mime for mime, extension in _FORMATS.values()}


@dataclass(frozen=True)
class ArtworkInfo:
    mime: str
    extension: str
    width: int
    height: int


def probe_artwork(data: bytes, filename: str) -> ArtworkInfo:
    """Check that `data` is artwork podcast apps accept: its kind and size, then every pixel."""
    if not data:
        raise InvalidInput(f"{filename} is empty: upload a JPEG or PNG image.")
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(
            "Artwork over 20 MB is more than any podcast app wants; "
            "a 3000x3000 JPEG is usually under 2 MB."
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise UnsupportedMedia(f"{filename} is not a JPEG or PNG image.") from exc
    except Exception as exc:  # a recognised header that breaks off: Pillow raises many kinds
        raise _damaged(filename, exc) from exc
    if kind not in _FORMATS:
        raise UnsupportedMedia(f"{filename} is {kind}; podcast artwork must be JPEG or PNG.")
    if width != height or not MIN_SIDE <= width <= MAX_SIDE:
        raise InvalidInput(
            f"{filename} is {width}x{height} px; podcast artwork must be square, between "
            f"{MIN_SIDE}x{MIN_SIDE} and {MAX_SIDE}x{MAX_SIDE} px."
        )
    _check_decodes(data, filename)
    mime, extension = _FORMATS[kind]
    return ArtworkInfo(mime, extension, width, height)


def _check_decodes(data: bytes, filename: str) -> None:
    """Decode the whole image (its size is checked first, so this is bounded): a sound header
    can front a truncated or garbled body, which apps would show broken or not at all."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # PNG: every chunk's checksum
        with Image.open(io.BytesIO(data)) as image:  # verify() leaves the image unusable
            image.load()
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, IndexError...
        raise _damaged(filename, exc) from exc


def _damaged(filename: str, exc: Exception) -> InvalidInput:
    return InvalidInput(
        f"{filename} is damaged or truncated ({exc or type(exc).__name__}); "
        "export the image again and upload the complete file."
    )


@lru_cache(maxsize=32)  # the artwork of shows that have none: drawn once per title
def title_card(title: str, colour: str) -> bytes:
    """Placeholder artwork: the title in white on `colour`, a MIN_SIDE-pixel square PNG."""
    logger.info("drawing the title card of %r", title)  # a fifth of a second
    image = Image.new("RGB", (MIN_SIDE, MIN_SIDE), colour)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=MIN_SIDE // 9)
    margin = MIN_SIDE // 10
    draw.multiline_text(
        (MIN_SIDE // 2, MIN_SIDE // 2),
        "\n".join(_wrap(draw, title, font, MIN_SIDE - 2 * margin)),
        font=font,
        fill="white",
        anchor="mm",
        align="center",
        spacing=MIN_SIDE // 40,
    )
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> list[str]:
    """Greedy word wrap to `width` pixels; a word longer than a line keeps a line of its own."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines
