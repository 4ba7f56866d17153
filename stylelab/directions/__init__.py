"""Editing directions: one module per method, one :class:`Direction` type for all.

>>> from stylelab.directions import DirectionLibrary, apply_edits
>>> lib = DirectionLibrary(G)                       # shipped for mobilestylegan-ffhq
>>> smile = lib.get("interfacegan")                 # W normals: smile, age, gender, ...
>>> w2 = apply_edits(G, w, [(smile, "smile", 2.0, None)])   # +2 sigma, all layers
>>> G.synthesis(w2, size=256)

Methods: :mod:`.interfacegan` (SVM normals, conditional manipulation), :mod:`.regression`
(mean difference, logistic regression), :mod:`.ganspace` (PCA of W), :mod:`.sefa`
(closed form from the style affines), :mod:`.stylespace` (channel localisation, θ detector,
attribute dependency). Labels come from :mod:`.measures`.
"""

from .base import (
                   Direction,
                   DirectionError,
                   apply_edits,
                   check_layers,
                   edit_s,
                   edit_w,
)
from .ganspace import GANSpaceConfig, ganspace
from .interfacegan import InterFaceGANConfig, condition, interfacegan
from .library import DirectionLibrary
from .measures import MEASURES, FaceMeasurer, MeasuredSamples, sample_and_measure
from .regression import logistic_direction, mean_difference, paired_difference
from .sefa import sefa
from .stylespace import (
                   Localisation,
                   attribute_channels,
                   attribute_dependency,
                   channel_direction,
                   localise_channels,
)

__all__ = [
    "MEASURES", "Direction", "DirectionError", "DirectionLibrary", "FaceMeasurer",
    "GANSpaceConfig", "InterFaceGANConfig", "Localisation", "MeasuredSamples", "apply_edits",
    "attribute_channels", "attribute_dependency", "channel_direction", "check_layers",
    "condition", "edit_s", "edit_w", "ganspace", "interfacegan",
    "localise_channels", "logistic_direction", "mean_difference",
    "paired_difference", "sample_and_measure", "sefa",
]
