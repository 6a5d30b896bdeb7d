"""Language tags compared as BCP 47 says: case-insensitively, `_` as `-`."""

from __future__ import annotations


def fold(tag: str) -> str:
    """A tag in one comparable spelling: `EN_us ` -> `en-us`."""
    return tag.strip().replace("_", "-").lower()


def primary(tag: str) -> str:
    """The language subtag alone: `en-US` -> `en`."""
    return fold(tag).split("-")[0]
