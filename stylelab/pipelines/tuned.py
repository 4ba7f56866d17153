"""PTI-tuned generator copies, kept per pipeline and keyed by the weight delta's content."""

from __future__ import annotations

import torch

from ..hashing import content_digest
from ..inversion.result import apply_generator_delta
from ..lru import LRUCache
from ..models.base import StyleGenerator


class TunedGenerators:
    """``get(delta)``: ``G``, or a copy of ``G`` with a PTI ``delta`` added. The last
    ``keep`` copies are kept (about 30 MB each for MobileStyleGAN), keyed by the delta's
    content, so equal deltas share a copy and different ones never do."""

    def __init__(self, G: StyleGenerator, keep: int = 2):
        self.G = G
        self.keep = keep
        self._copies: LRUCache[str, StyleGenerator] = LRUCache(keep)

    def get(self, delta: dict[str, torch.Tensor] | None) -> StyleGenerator:
        if not delta:
            return self.G
        return self._copies.get_or_create(content_digest(delta),
                                          lambda: apply_generator_delta(self.G, delta))
