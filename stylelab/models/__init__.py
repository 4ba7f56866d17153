"""Generators: plain ``nn.Module``s implementing :class:`~stylelab.models.base.StyleGenerator`."""

from .base import FeatureLayer, StyleGenerator, StyleLayer, SynthesisOutput
from .mobilestylegan import MobileStyleGAN, MobileStyleGANConfig
from .stylegan2 import StyleGAN2, StyleGAN2Config
from .stylespace import (
    channel_name,
    flatten_styles,
    latent_signature,
    s_dim,
    s_offsets,
    style_mean_std,
    style_std,
    unflatten_styles,
)

__all__ = ["FeatureLayer", "MobileStyleGAN", "MobileStyleGANConfig", "StyleGAN2",
           "StyleGAN2Config", "StyleGenerator", "StyleLayer", "SynthesisOutput", "channel_name",
           "flatten_styles", "latent_signature", "s_dim", "s_offsets", "style_mean_std",
           "style_std", "unflatten_styles"]
