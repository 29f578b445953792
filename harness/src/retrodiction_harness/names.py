"""Names for per-test Kubernetes objects: DNS-1123 labels that say which test made them and never collide."""

from __future__ import annotations

import re
import secrets
import string

MAX_LABEL = 63
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SUFFIX_LENGTH = 5


def random_suffix(length: int = _SUFFIX_LENGTH) -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def dns_label(text: str, suffix: str | None = None, prefix_to_strip: str = "test_") -> str:
    """`text` made into a DNS-1123 label (lowercase alphanumerics and '-', at most 63 chars) ending in -<suffix>.

    A random suffix is used when none is given, so two runs of the same test never share a name.
    """
    suffix = random_suffix() if suffix is None else suffix
    if text.startswith(prefix_to_strip):
        text = text[len(prefix_to_strip) :]
    stem = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    stem = stem[: MAX_LABEL - len(suffix) - 1].rstrip("-")
    return f"{stem}-{suffix}" if stem else f"t-{suffix}"
