"""Aligned pairs: a parent generator and a child fine-tuned from it (or two such children).

Two generators are *aligned* when they descend from the same parent weights: then one latent
gives the same face in both domains. A child made by :func:`stylelab.adaptation.adapt` (or
loaded with :func:`~stylelab.adaptation.load_adapted`) carries ``parent_digest``, the content
digest of the weights it was fine-tuned from; :func:`lineage` reads it, :func:`check_aligned`
refuses pairs that do not share it (a child of other parent weights would pair different
faces).
"""

from __future__ import annotations

from ..adaptation.adapted import AdaptedGenerator, generator_digest
from ..models.base import StyleGenerator


class NotAlignedError(ValueError):
    """The generators do not descend from the same parent weights."""


def as_generator(G: StyleGenerator | AdaptedGenerator) -> StyleGenerator:
    """A :class:`StyleGenerator` from a generator or an :class:`AdaptedGenerator`."""
    return G.generator if isinstance(G, AdaptedGenerator) else G


def lineage(G: StyleGenerator | AdaptedGenerator) -> str:
    """The digest of the weights ``G`` descends from: its parent's for an adapted child, its own
    for a parent."""
    G = as_generator(G)
    return getattr(G, "parent_digest", None) or generator_digest(G)


def shared_lineage(a: StyleGenerator, b: StyleGenerator) -> str:
    """The parent digest two generators share (each computed once); :class:`NotAlignedError`
    unless they share a lineage and layout."""
    if [(s.name, s.channels) for s in a.style_layers] != \
            [(s.name, s.channels) for s in b.style_layers]:
        raise NotAlignedError(f"{a.model_name} and {b.model_name} have different architectures; "
                              "aligned models are a parent and children adapted from it")
    digest = lineage(a)
    if digest != lineage(b):
        raise NotAlignedError(
            f"{b.model_name} was not fine-tuned from these {a.model_name} weights (parent "
            "digests differ): pair a child with the parent it was adapted from "
            f"({getattr(b, 'parent_name', None) or getattr(a, 'parent_name', None) or '?'})")
    return digest


def check_aligned(a: StyleGenerator | AdaptedGenerator, b: StyleGenerator | AdaptedGenerator
                  ) -> tuple[StyleGenerator, StyleGenerator]:
    """Both as generators; :class:`NotAlignedError` unless they share a lineage and layout."""
    a, b = as_generator(a), as_generator(b)
    shared_lineage(a, b)
    return a, b
