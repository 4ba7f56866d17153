"""Generators: plain ``nn.Module``s implementing :class:`~stylelab.models.base.StyleGenerator`."""

from .base import FeatureLayer, StyleGenerator, StyleLayer, SynthesisOutput
from .mobilestylegan import MobileStyleGAN, MobileStyleGANConfig

__all__ = ["FeatureLayer", "MobileStyleGAN", "MobileStyleGANConfig", "StyleGenerator",
           "StyleLayer", "SynthesisOutput"]
