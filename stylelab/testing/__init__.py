"""Test-only models, importable by tests and notebooks but never listed to users.

Importing this module registers two tiny seeded random generators (hidden from
``stylelab models`` and the hub's picker, loadable by name):

* ``tiny-test``: a 64px MobileStyleGAN (z, w 32-D), head exits at 32px;
* ``tiny-stylegan2``: a 32px StyleGAN2;

and ``tiny-backbone`` (:mod:`stylelab.testing.perceptual`), a tiny random perceptual backbone.

:mod:`stylelab.testing.clip` holds text-image models with known answers for the StyleCLIP
tests (planted channels, face measures). ``STYLELAB_PLUGINS=stylelab.testing`` makes the
CLI and the hub see the tiny generators too (tests of those layers use it).
"""

from __future__ import annotations

from ..perceptual.backbones import register_backbone
from ..registry import ModelSpec, register_generator
from .perceptual import TINY_BACKBONE, tiny_backbone

TINY_SPECS = (
    ModelSpec("tiny-test", "tiny random MobileStyleGAN for tests", "mobilestylegan", 64, "random",
              1.0, domain="random", hidden=True,
              config=dict(z_dim=32, w_dim=32, mapping_layers=2, channels=(32, 32, 16, 16),
                          head_blocks=(1,))),
    ModelSpec("tiny-stylegan2", "tiny random StyleGAN2 for tests", "stylegan2", 32, "random", 1.0,
              domain="random", hidden=True,
              config=dict(z_dim=32, w_dim=32, resolution=32, mapping_layers=2, channel_base=512,
                          channel_max=32)),
)

for _spec in TINY_SPECS:
    register_generator(_spec)
register_backbone(TINY_BACKBONE, tiny_backbone, hidden=True)

__all__ = ["TINY_BACKBONE", "TINY_SPECS"]
