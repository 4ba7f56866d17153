"""GAN inversion: find a latent (and for PTI, a small generator change) that reproduces an image.

* :func:`invert` / :class:`OptimizeConfig`: latent optimisation in W or W+.
* :func:`invert_pti` / :class:`PTIConfig`: Pivotal Tuning Inversion (W pivot + tuned weights).
* :class:`InversionResult`: latent, optional ``generator_delta``, reconstruction, metrics;
  ``save``/``load`` and ``apply_delta(G)`` for editing with the tuned generator.
* :class:`InversionLoss`: the objective's weights and perceptual backend.
"""

from .losses import InversionLoss, build_loss
from .optimize import OptimizeConfig, invert
from .pti import PTIConfig, invert_pti
from .result import InversionResult

__all__ = ["InversionLoss", "InversionResult", "OptimizeConfig", "PTIConfig", "build_loss",
           "invert", "invert_pti"]
