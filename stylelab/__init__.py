"""stylelab: editing images through the latent spaces of style-based GANs.

>>> import stylelab
>>> G = stylelab.load_generator("mobilestylegan-ffhq")
>>> w = G.map(stylelab.z_from_seeds([0, 1]), truncation_psi=0.7)   # (2, 512)
>>> img = G.synthesis(w, size=256)                                  # (2, 3, 256, 256) in [-1, 1]
"""

from .cache import CacheError, cache_dir
from .latents import interpolate, parse_seeds, style_mix, z_from_seeds
from .models.base import FeatureLayer, StyleGenerator, StyleLayer
from .registry import (
    ModelSpec,
    get_spec,
    list_models,
    load_generator,
    load_generator_file,
)

__version__ = "0.1.0"
__all__ = [
    "CacheError", "FeatureLayer", "ModelSpec", "StyleGenerator", "StyleLayer", "cache_dir",
    "get_spec", "interpolate", "list_models", "load_generator", "load_generator_file",
    "parse_seeds", "style_mix", "z_from_seeds",
]
