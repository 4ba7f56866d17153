"""Inversion by a trained encoder (one forward pass), and the hybrids that start from it.

* :func:`invert_encoder`: pSp / e4e / CLCAE forward -> W+ (and CLCAE's F) in milliseconds.
* :func:`refine`: the encoder's W+, then ``steps`` of W+ optimisation (:func:`~.invert`)
  started there ("encoder + refine").
* :func:`encoder_pti`: PTI whose W pivot optimisation starts from the encoder's W.

Every function returns an :class:`~.result.InversionResult` measured the same way as the
optimisers' (PSNR, MS-SSIM, identity), so the methods compare directly.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import torch
from PIL import Image

from ..optim import StopCheck
from .losses import IdentityLoss
from .optimize import OptimizeConfig, finish, invert, prepare_target
from .pti import PTIConfig, invert_pti
from .result import InversionResult


def invert_encoder(encoder, target: torch.Tensor | Image.Image,
                   identity: IdentityLoss | None = None, *, size: int | None = None,
                   use_f: bool = True) -> InversionResult:
    """``target`` (PIL, or ``(1, 3, S, S)`` in [-1, 1]) -> W+ ``(1, num_ws, w_dim)`` by
    ``encoder`` (a :class:`~stylelab.encoders.Encoder` attached to its generator), plus F
    (``result.features``) for CLCAE with F when ``use_f``. Metrics at ``size`` (default: the
    target's)."""
    G = encoder.generator
    if G is None:
        raise ValueError("the encoder has no generator: load it with load_encoder(...) or "
                         "call encoder.attach(G) first")
    start = time.perf_counter()
    target = prepare_target(target, size, G)
    out = encoder.invert(target)
    features = out.f if use_f and out.f else None
    kind = encoder.config.kind
    config = {"encoder": kind, "generator": encoder.config.generator,
              "input_size": encoder.config.input_size, "use_f": features is not None}
    return finish(G, out.wplus, target, identity, [], start, method=f"encoder:{kind}",
                  noise_mode="const", config=config, features=features)


def refine(encoder, target: torch.Tensor | Image.Image, config: OptimizeConfig,
           identity: IdentityLoss | None = None, *, progress: bool = True,
           stop: StopCheck | None = None) -> InversionResult:
    """The encoder's W+, then ``config.steps`` of W+ optimisation from there (no start noise:
    the start is already close). F is not used: the refined latent alone is the result."""
    start = time.perf_counter()
    G = encoder.generator
    first = invert_encoder(encoder, target, None, size=config.size, use_f=False)
    config = replace(config, space="w+", init_noise=0.0)
    result = invert(G, target, config, identity, init=first.latent, progress=progress, stop=stop)
    result.method = f"encoder:{encoder.config.kind}+w+"
    result.metrics["encoder_psnr"] = first.metrics["psnr"]
    result.seconds = time.perf_counter() - start
    result.config = {"encoder": encoder.config.kind, **asdict(config)}
    return result


def encoder_pti(encoder, target: torch.Tensor | Image.Image, config: PTIConfig,
                identity: IdentityLoss | None = None, *, progress: bool = True,
                stop: StopCheck | None = None) -> InversionResult:
    """PTI with the W pivot's optimisation started at the encoder's W (then tuning as usual)."""
    start = time.perf_counter()
    G = encoder.generator
    w = encoder.invert(prepare_target(target, config.pivot.size, G)).w
    result = invert_pti(G, target, config, identity, init=w, progress=progress, stop=stop)
    result.method = f"encoder:{encoder.config.kind}+pti"
    result.seconds = time.perf_counter() - start
    return result
