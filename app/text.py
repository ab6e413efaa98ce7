"""Text that ends up in feeds must be representable in XML 1.0."""

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def strip_unrepresentable(text: str) -> str:
    return _NOT_XML.sub("", text)


def _reject_unrepresentable(text: str) -> str:
    found = _NOT_XML.search(text)
    if found:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}, which podcast feeds cannot carry; remove it"
        )
    return text


FeedText = Annotated[str, AfterValidator(_reject_unrepresentable)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_reject_unrepresentable),
]
