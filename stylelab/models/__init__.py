"""Generators: plain ``nn.Module``s implementing :class:`~stylelab.models.base.StyleGenerator`."""

from .base import FeatureLayer, StyleGenerator, StyleLayer, SynthesisOutput
from .mobilestylegan import MobileStyleGAN, MobileStyleGANConfig
from .stylegan2 import StyleGAN2, StyleGAN2Config

__all__ = ["FeatureLayer", "MobileStyleGAN", "MobileStyleGANConfig", "StyleGAN2",
           "StyleGAN2Config", "StyleGenerator", "StyleLayer", "SynthesisOutput"]
