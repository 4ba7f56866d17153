"""Content digests for cache keys: two equal latents (or PTI weight deltas) give the same key,
two different ones never share one (unlike ``id()``, which CPython reuses)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch


def content_digest(*items: object) -> str:
    """A sha1 hex digest of tensors, mappings of tensors, strings, numbers and None."""
    digest = hashlib.sha1()
    for item in items:
        _update(digest, item)
    return digest.hexdigest()


def _update(digest, item: object) -> None:
    if isinstance(item, torch.Tensor):
        t = item.detach().to("cpu").contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(item, Mapping):
        digest.update(b"M%d" % len(item))
        for key in sorted(item):
            digest.update(str(key).encode() + b"\0")
            _update(digest, item[key])
    elif isinstance(item, (list, tuple)):
        digest.update(b"L%d" % len(item))
        for value in item:
            _update(digest, value)
    else:
        digest.update(f"{type(item).__name__}:{item!r}\0".encode())
