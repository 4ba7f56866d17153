"""Seeds in, images out: sampling, style mixing and interpolation for one generator."""

from __future__ import annotations

from collections.abc import Iterator

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
from ..registry import DEFAULT_MODEL, load_generator
from .checks import check_count


def layer_range(G: StyleGenerator, start: float, stop: float) -> range:
    """The W+ entries ``start..stop`` (both inclusive, as the hub's sliders show them).

    ValueError, in the same numbers, for non-integers, a reversed or an out-of-range pair."""
    last = G.num_ws - 1
    values = []
    for name, value in (("from", start), ("to", stop)):
        if value is None or not float(value).is_integer():
            raise ValueError(f"W+ layer '{name}' must be a whole number in 0..{last}, got {value}")
        values.append(int(value))
    start, stop = values
    if not (0 <= start <= last and 0 <= stop <= last):
        raise ValueError(f"W+ layers {start}..{stop} are outside 0..{last} for this model")
    if start > stop:
        raise ValueError(f"W+ layers {start}..{stop}: 'from' must not be above 'to' "
                         f"(e.g. {stop}..{start})")
    return range(start, stop + 1)


class GenerationPipeline:
    """Renders PIL images from seeds with generator ``G`` (any :class:`StyleGenerator`:
    a registry model, a file, a PTI-tuned or adapted copy).

    All inputs are validated with ValueError messages meant for end users.

    >>> pipe = GenerationPipeline.from_name("mobilestylegan-ffhq")
    >>> [(seed, image)] = pipe.generate("4", 0.7, 256)
    """

    def __init__(self, G: StyleGenerator):
        self.G = G

    @classmethod
    def from_name(cls, model_name: str = DEFAULT_MODEL, device: str = "cpu"
                  ) -> GenerationPipeline:
        """The pipeline for registry model ``model_name`` (its weights load now)."""
        return cls(load_generator(model_name, device))

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
        if int(batch_size) < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        images: list[Image.Image] = []
        for start in tqdm(range(0, len(w), batch_size), desc=desc, unit="batch"):
            images += to_pil(self.G.synthesis(w[start:start + batch_size], size=size))
        return images

    def generate(self, seeds, truncation: float = 0.7, size: int | None = 256,
                 batch_size: int = 8) -> list[tuple[int, Image.Image]]:
        """``[(seed, image)]`` for every seed (``"0-7"``, ``"1,5"``, int or list)."""
        return list(self.iter_generate(seeds, truncation, size, batch_size))

    def iter_generate(self, seeds, truncation: float = 0.7, size: int | None = 256,
                      batch_size: int = 8) -> Iterator[tuple[int, Image.Image]]:
        """``(seed, image)`` pairs as each batch is rendered, so a caller can write one batch
        while the next renders. Every argument is checked before the first render."""
        seeds = parse_seeds(seeds)
        w = self.w_from_seeds(seeds, truncation)
        size = self.check_size(size)
        batch_size = check_count(batch_size, "batch size", 1, 1024)
        for start in tqdm(range(0, len(seeds), batch_size), desc="generate", unit="batch"):
            with torch.inference_mode():
                images = to_pil(self.G.synthesis(w[start:start + batch_size], size=size))
            yield from zip(seeds[start:start + batch_size], images)

    def check_layers(self, start: int, stop: int) -> range:
        """W+ layer range ``start..stop`` inclusive, checked against ``num_ws``."""
        return layer_range(self.G, start, stop)

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
        steps = check_count(steps, "interpolation steps", 2, 32)
        w = self.w_from_seeds([seed_a, seed_b], truncation)
        rng = self.check_layers(*layers) if (layers is not None and space == "w+") else None
        path = interpolate(self.G, w[:1], w[1:], int(steps), space, rng)
        size = self.check_size(size)
        frames = [self.G.synthesis(path[i:i + 8], size=size)
                  for i in tqdm(range(0, len(path), 8), desc="interpolation", unit="batch")]
        return Image.fromarray(strip(torch.cat(frames)))
