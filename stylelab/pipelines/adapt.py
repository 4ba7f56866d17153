"""Reference (or texts) in, adapted generator out: load and align the reference, run
DiFa / JoJoGAN / StyleGAN-NADA, save into the cache, and render parent / child comparisons."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image

from ..adaptation import (
    DEFAULT_EMBED,
    METHODS,
    AdaptedGenerator,
    adapt,
    adapted_root,
    load_embedder,
)
from ..adaptation.loop import MAX_STEPS, Preview
from ..aligned.correspondence import Correspondence
from ..faces import ALIGN_MAX_SIDE, NoFaceError, align_face, load_image
from ..images import from_pil, to_pil
from ..models.base import StyleGenerator
from ..optim import StopCheck
from ..registry import DEFAULT_MODEL, load_generator
from .checks import check_steps


@dataclass
class Reference:
    """The image adaptation sees: ``image`` (PIL, square, aligned when a face was found) and
    ``note`` (what was done: aligned, or used as is because no face was found)."""

    image: Image.Image
    aligned: bool
    note: str


class AdaptPipeline:
    """Adapts generator ``G``. ``embed``: DiFa's image embedding name (default VGG16 style
    statistics, see :mod:`stylelab.adaptation.embed`); ``clip``: NADA's text-image model,
    loaded or by name (default: the best available). Components load on first use."""

    def __init__(self, G: StyleGenerator, embed: str | None = None, clip=None):
        self.G, self.embed_name = G, embed
        self.clip_name = clip if isinstance(clip, str) or clip is None else clip.name
        self._embedder = None
        self._clip = None if isinstance(clip, str) or clip is None else clip
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model_name: str = DEFAULT_MODEL, device: str = "cpu",
                  embed: str | None = None, clip: str | None = None) -> AdaptPipeline:
        return cls(load_generator(model_name, device), embed, clip)

    def embedder(self):
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.embed_name or DEFAULT_EMBED, self.G.device)
            return self._embedder

    def clip(self):
        with self._lock:
            if self._clip is None:
                from ..clip import load_clip

                self._clip = load_clip(self.clip_name, self.G.device)
            return self._clip

    @property
    def size(self) -> int:
        return min(self.G.sizes, key=lambda s: abs(s - 256))

    def reference(self, source, method: str, align: bool = True) -> Reference:
        """Load ``source`` (path, bytes or PIL) and FFHQ-align its largest face. Without a face,
        DiFa and NADA take the image centre-cropped (said in ``note``); JoJoGAN needs a face
        (it inverts the reference), so it raises :class:`~stylelab.faces.NoFaceError`."""
        photo = load_image(source, max_side=ALIGN_MAX_SIDE)
        if align:
            try:
                face = align_face(photo, size=self.size)
                return Reference(face.image, True, "the largest face was aligned (FFHQ crop)")
            except NoFaceError:
                if method == "jojo":
                    raise NoFaceError("no face found in the reference: JoJoGAN needs a face "
                                      "(it inverts the reference); use DiFa for other "
                                      "images") from None
        side = min(photo.size)
        left, top = (photo.width - side) // 2, (photo.height - side) // 2
        square = photo.crop((left, top, left + side, top + side)).resize(
            (self.size, self.size), Image.LANCZOS)
        note = ("no face found: the centre square is used as a style reference" if align
                else "used as given (centre square)")
        return Reference(square, False, note)

    def adapt(self, method: str, *, reference=None, source_text: str | None = None,
              target_text: str | None = None, steps: int | None = None, align: bool = True,
              preview: Preview | None = None, preview_every: int = 0,
              stop: StopCheck | None = None, progress: bool = True,
              name: str | None = None, preserve_colour: bool = False) -> AdaptedGenerator:
        """Run ``method`` ("difa", "jojo", "nada"); ``steps`` in 1..``MAX_STEPS`` (default the
        method's); ``preserve_colour`` (jojo only): JoJoGAN's colour-preserving mix, each
        face keeps its own colours. ValueError (a subclass for image problems) for bad input,
        before any work."""
        method = str(method).lower()
        if method not in METHODS:
            raise ValueError(f"unknown adaptation method {method!r}; choose one of "
                             f"{', '.join(METHODS)}")
        if preserve_colour and method != "jojo":
            raise ValueError("preserve colour is an option of the JoJoGAN-style method; "
                             "choose jojo or leave it off")
        config = METHODS[method]()
        if steps is not None:
            config = replace(config, steps=check_steps(steps, MAX_STEPS))
        if preserve_colour:
            config = replace(config, preserve_colour=True)
        kwargs: dict = {}
        if method == "nada":
            from ..adaptation.nada import text_direction

            text_direction(self.clip(), source_text or "", target_text or "")  # checks texts
            kwargs = {"clip": self.clip(), "source_text": source_text,
                      "target_text": target_text}
        else:
            if reference is None:
                raise ValueError(f"{method} needs a reference image: upload one")
            ref = reference if isinstance(reference, Reference) else \
                self.reference(reference, method, align)
            kwargs = {"reference": from_pil(ref.image, self.size).to(self.G.device)}
            if method == "difa":
                kwargs["embedder"] = self.embedder()
                if not ref.aligned:  # no face to invert: NADA's image-to-image direction
                    config = replace(config, direction="mean")
        result = adapt(self.G, method, config=config, name=name,
                       progress=progress, preview=preview, preview_every=preview_every,
                       stop=stop, **kwargs)
        if method != "nada":
            result.config["reference_note"] = ref.note
        return result

    def save(self, result: AdaptedGenerator, out: str | Path | None = None) -> Path:
        """Save into ``out`` (default: the cache's ``adapted/<name>``, then loadable as
        ``adapted:<name>``)."""
        return result.save(Path(out) if out else adapted_root() / result.name)

    @torch.inference_mode()
    def compare(self, child: StyleGenerator, seeds: list[int], psi: float | None = None
                ) -> tuple[list[Image.Image], list[Image.Image]]:
        """Parent and child renders of ``seeds`` (the same latents)."""
        psi = self.G.default_truncation if psi is None else psi
        parent, adapted = [], []
        for seed in seeds:
            w = self.G.sample_w(1, seed=seed, truncation_psi=psi)
            parent += to_pil(self.G.synthesis(w, size=self.size))
            adapted += to_pil(child.synthesis(w, size=self.size))
        return parent, adapted

    @torch.inference_mode()
    def mix(self, child: StyleGenerator, w: torch.Tensor, *, shape_from: str = "parent",
            cut: float = 7, softness: float = 0.0) -> Image.Image:
        """The face ``w`` (W or W+) rendered by a layer-swap hybrid of this pipeline's
        generator and ``child`` (aligned with it): the coarse layers (below W+ entry ``cut``:
        shape, pose) of ``shape_from`` ("parent" or "child"), the fine ones (appearance) of
        the other; ``softness`` > 0 blends across the cut (:func:`stylelab.aligned.hybrid`).
        :class:`~stylelab.aligned.NotAlignedError` when ``child`` was not adapted from it."""
        from ..aligned import hybrid

        if shape_from not in ("parent", "child"):
            raise ValueError(f"shape_from must be 'parent' or 'child', got {shape_from!r}")
        pair = (self.G, child) if shape_from == "parent" else (child, self.G)
        G = hybrid(*pair, cut, softness)
        return to_pil(G.synthesis(w.to(G.device), size=self.size))[0]


    @torch.inference_mode()
    def correspondence(self, w: torch.Tensor, exemplar, *, backbone=None,
                       layer: str = "relu4_3", masked: bool = True, temperature: float = 0.02
                       ) -> tuple[Correspondence, Image.Image]:
        """Cross-domain correspondence from the face ``w`` (``(1, w_dim)`` or W+, rendered by
        this pipeline's generator) to an ``exemplar`` image (path, bytes or PIL: e.g. a
        stylised face; its largest face is aligned when one is found) by masked attention
        over ``backbone`` (default VGG16) feature maps ``layer``. Returns the
        :class:`~stylelab.aligned.Correspondence` and the exemplar warped to the face's
        layout (unreliable cells filled from the face). A file that is not an image raises
        the loader's ValueError before any work."""
        from ..aligned import correspond, fill_unreliable, warp
        from ..perceptual import load_backbone

        example = from_pil(self.reference(exemplar, "difa").image, self.size).to(self.G.device)
        face = self.G.synthesis(w.to(self.G.device), size=self.size).clamp(-1, 1)
        net = backbone or load_backbone("vgg16", self.G.device)
        fq, fe = (net.features(x, [layer])[layer] for x in (face, example))
        corr = correspond(fq, fe, masked=masked, temperature=temperature)
        warped = fill_unreliable(corr, warp(corr, example), face, example)
        warped = torch.nn.functional.interpolate(warped, size=self.size, mode="bilinear",
                                                 align_corners=False)
        return corr, to_pil(warped.clamp(-1, 1))[0]

