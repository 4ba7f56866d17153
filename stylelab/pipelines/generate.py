"""Seeds in, images out: sampling, style mixing and interpolation for one generator."""

from __future__ import annotations

import threading
from functools import lru_cache

import torch
from PIL import Image
from tqdm.auto import tqdm

from ..images import strip, to_pil
from ..latents import (
    check_truncation,
    interpolate,
    parse_seeds,
    style_mix,
    z_from_seeds,
)
from ..models.base import StyleGenerator
from ..registry import get_spec, load_generator


class GenerationPipeline:
    """Loads generator ``model_name`` lazily, once, and renders PIL images from seeds.

    All inputs are validated with ValueError messages meant for end users.
    """

    def __init__(self, model_name: str = "mobilestylegan-ffhq", device: str = "cpu"):
        self.spec = get_spec(model_name)
        self.device = device
        self._G: StyleGenerator | None = None
        self._lock = threading.Lock()

    @property
    def G(self) -> StyleGenerator:
        with self._lock:
            if self._G is None:
                self._G = load_generator(self.spec.name, self.device)
            return self._G

    def check_size(self, size: int | None) -> int:
        return self.G.check_size(None if size is None else int(size))

    @torch.inference_mode()
    def w_from_seeds(self, seeds, truncation: float) -> torch.Tensor:
        """``(N, w_dim)`` W latents for the seeds, truncated by ``truncation``."""
        z = z_from_seeds(parse_seeds(seeds), self.G.z_dim)
        return self.G.map(z, check_truncation(truncation))

    @torch.inference_mode()
    def render(self, w: torch.Tensor, size: int | None, batch_size: int = 8,
               desc: str = "rendering") -> list[Image.Image]:
        """W or W+ latents -> PIL images, ``batch_size`` at a time, with a tqdm bar."""
        size = self.check_size(size)
        images: list[Image.Image] = []
        for start in tqdm(range(0, len(w), batch_size), desc=desc, unit="batch"):
            images += to_pil(self.G.synthesis(w[start:start + batch_size], size=size))
        return images

    def generate(self, seeds, truncation: float = 0.7, size: int | None = 256,
                 batch_size: int = 8) -> list[tuple[int, Image.Image]]:
        """``[(seed, image)]`` for every seed (``"0-7"``, ``"1,5"``, int or list)."""
        seeds = parse_seeds(seeds)
        images = self.render(self.w_from_seeds(seeds, truncation), size, batch_size, "generate")
        return list(zip(seeds, images))

    def check_layers(self, start: int, stop: int) -> range:
        """W+ layer range ``start..stop`` inclusive, checked against ``num_ws``."""
        n = self.G.num_ws
        start, stop = int(start), int(stop)
        if not (0 <= start <= stop < n):
            raise ValueError(f"layer range {start}..{stop} is outside 0..{n - 1} for this model")
        return range(start, stop + 1)

    @torch.inference_mode()
    def mix(self, seed_a: int, seed_b: int, layers: tuple[int, int], truncation: float = 0.7,
            size: int | None = 256) -> tuple[Image.Image, Image.Image, Image.Image]:
        """(A, B, A with B's styles on W+ layers ``layers[0]..layers[1]``)."""
        w = self.G.to_wplus(self.w_from_seeds([seed_a, seed_b], truncation))
        mixed = style_mix(w[:1], w[1:], self.check_layers(*layers))
        a, b, m = self.render(torch.cat([w, mixed]), size, desc="style mixing")
        return a, b, m

    @torch.inference_mode()
    def interpolation(self, seed_a: int, seed_b: int, steps: int = 7, space: str = "w",
                      layers: tuple[int, int] | None = None, truncation: float = 0.7,
                      size: int | None = 256) -> Image.Image:
        """A strip of ``steps`` images from A to B, in W or W+ (only ``layers`` move in W+)."""
        if not 2 <= int(steps) <= 32:
            raise ValueError("interpolation steps must be between 2 and 32")
        w = self.w_from_seeds([seed_a, seed_b], truncation)
        rng = self.check_layers(*layers) if (layers is not None and space == "w+") else None
        path = interpolate(self.G, w[:1], w[1:], int(steps), space, rng)
        size = self.check_size(size)
        frames = [self.G.synthesis(path[i:i + 8], size=size)
                  for i in tqdm(range(0, len(path), 8), desc="interpolation", unit="batch")]
        return Image.fromarray(strip(torch.cat(frames)))


@lru_cache(maxsize=4)
def get_pipeline(model_name: str = "mobilestylegan-ffhq", device: str = "cpu") -> GenerationPipeline:
    """One shared pipeline per (model, device): weights are loaded once per process."""
    return GenerationPipeline(model_name, device)
