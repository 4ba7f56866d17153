"""PTI-tuned generator copies, kept per pipeline and keyed by the weight delta's content."""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from ..hashing import content_digest
from ..inversion.result import apply_generator_delta
from ..models.base import StyleGenerator


class TunedGenerators:
    """``get(delta)``: ``G``, or a copy of ``G`` with a PTI ``delta`` added. The last
    ``keep`` copies are kept (about 30 MB each for MobileStyleGAN), keyed by the delta's
    content, so equal deltas share a copy and different ones never do."""

    def __init__(self, G: StyleGenerator, keep: int = 2):
        self.G = G
        self.keep = keep
        self._copies: OrderedDict[str, StyleGenerator] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, delta: dict[str, torch.Tensor] | None) -> StyleGenerator:
        if not delta:
            return self.G
        key = content_digest(delta)
        with self._lock:
            if key in self._copies:
                self._copies.move_to_end(key)
                return self._copies[key]
        tuned = apply_generator_delta(self.G, delta)
        with self._lock:
            self._copies[key] = tuned
            while len(self._copies) > self.keep:
                self._copies.popitem(last=False)
        return tuned
