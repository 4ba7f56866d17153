"""Constructed text-image models whose right answer is known, for testing StyleCLIP methods
without CLIP weights (none are reachable offline).

- :class:`PlantedChannelsClip`: the image embedding is a fixed linear read-out of the image
  that responds to a few planted StyleSpace channels (one axis each), plus distractor axes
  (random smooth image projections) and a constant axis every image shares. Its words map
  to the planted axes, so global directions must recover exactly the planted channels.
- :class:`FaceMeasureClip`: the embedding is made of differentiable face measures
  (face-api.js happiness, age, gender) plus distractors; "smiling", "old", "woman" ...
  map to those axes, so an edit driven by a prompt must move the named measure.

Both behave like CLIP: unit-norm embeddings, prompts as text, a shared constant component
(text and image embeddings of unrelated content are not orthogonal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ..clip.base import TextImageModel

WORD = re.compile(r"[a-z]+")


def smooth_patterns(count: int, size: int, grid: int = 8, seed: int = 0) -> torch.Tensor:
    """``(count, 3, size, size)`` unit-norm random low-frequency images."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(count, 3, grid, grid, generator=gen)
    patterns = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return patterns / patterns.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


class _VocabularyText(TextImageModel):
    """Text side shared by the constructed models: each known word adds its axis (with
    weight ``sign``) to a constant axis 0; unknown words add nothing."""

    vocabulary: dict[str, tuple[int, float]]
    text_shared: float = 1.0

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split()) + 2

    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(prompts), self.embed_dim)
        out[:, 0] = self.text_shared
        for i, prompt in enumerate(prompts):
            words = WORD.findall(prompt.lower())[: self.context_length - 2]
            for word in words:
                if word in self.vocabulary:
                    axis, sign = self.vocabulary[word]
                    out[i, axis] += sign
        return out


class PlantedChannelsClip(_VocabularyText):
    """A linear image read-out of planted S channels.

    ``planted``: ``{word: flat S channel index}``. Axis ``k + 1`` reads the image change a
    one-sigma step of channel ``planted[k]`` makes (averaged over ``faces`` seeded faces,
    as a least-squares read-out); ``distractors`` axes read random smooth image patterns.
    Over the construction faces each planted axis, and the distractors together, vary
    with standard deviation ``spread`` next to the shared axis (1). Built from ``G`` once
    (a few generator passes). The read-out sees the CLIP input (``image_size`` px,
    normalised) like a real CLIP image tower.
    """

    def __init__(self, G, planted: Mapping[str, int], *, distractors: int = 32,
                 faces: int = 8, spread: float = 0.2, render_size: int | None = None,
                 image_size: int = 64, shared: float = 1.0, seed: int = 0):
        super().__init__()
        from ..models.stylespace import flatten_styles, style_std, unflatten_styles

        self.name = f"planted:{G.model_name}:{','.join(f'{w}={c}' for w, c in planted.items())}"
        self.image_size, self.shared = image_size, shared
        self.words = list(planted)
        self.embed_dim = 1 + len(planted) + distractors
        self.vocabulary = {w: (k + 1, 1.0) for k, w in enumerate(planted)}
        size = render_size or min(G.sizes, key=lambda s: abs(s - 256))
        std = style_std(G, samples=500, seed=seed)
        with torch.no_grad():
            w = G.sample_w(faces, seed=seed, truncation_psi=0.7)
            flat = flatten_styles(G, G.w_to_s(w))
            base = self._pixels(G.synthesis(w, size=size))
            responses = []
            for channel in planted.values():
                step = torch.zeros_like(flat)
                step[:, channel] = 0.5 * std[channel]
                plus = self._pixels(G.synthesis(unflatten_styles(G, flat + step), size=size))
                minus = self._pixels(G.synthesis(unflatten_styles(G, flat - step), size=size))
                responses.append((plus - minus).mean(0))  # image change per sigma
        u = torch.stack(responses).flatten(1)  # (K, P)
        readout = torch.linalg.pinv(u).T  # (K, P): readout @ u.T = I, +1 per sigma
        noise = smooth_patterns(distractors, image_size, seed=seed + 1).flatten(1)
        offset = base.mean(0).flatten()
        # Faces differ along every axis; keep that spread small next to the shared axis
        # (as in CLIP, where unrelated images share most of their embedding).
        faces_px = (base.flatten(1) - offset)
        readout = readout * (spread / (faces_px @ readout.T).std(0).clamp_min(1e-8)[:, None])
        noise = noise * (spread / (faces_px @ noise.T).square().sum(1).mean().sqrt())
        self.register_buffer("offset", offset)
        self.register_buffer("readout", torch.cat([readout, noise]))  # (E-1, P)

    def _pixels(self, images: torch.Tensor) -> torch.Tensor:
        return self.preprocess(images.cpu())

    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        axes = (pixels.flatten(1) - self.offset) @ self.readout.T
        shared = torch.full((len(pixels), 1), self.shared, dtype=axes.dtype, device=axes.device)
        return torch.cat([shared, axes], dim=1)


FACE_VOCABULARY = {
    "smiling": (1, 1.0), "smile": (1, 1.0), "happy": (1, 1.0), "laughing": (1, 1.0),
    "old": (2, 1.0), "elderly": (2, 1.0), "aged": (2, 1.0),
    "young": (2, -1.0), "child": (2, -1.0),
    "man": (3, 1.0), "male": (3, 1.0), "woman": (3, -1.0), "female": (3, -1.0),
}
FACE_AXES = ("shared", "happy", "age", "male")


class FaceMeasureClip(_VocabularyText):
    """Embedding ``[shared, (happy - neutral logit) / 10, (age - 35) / 100, (male - 0.5) / 2,
    distractors...]`` of
    FFHQ-aligned faces, from the face-api.js nets (differentiable), so "a smiling face"
    asks for a higher face-api happiness and "an old face" for a higher age estimate.

    ``attributes``: a :class:`stylelab.faces.FaceAttributes`. ``distractors`` smooth image
    projections with total weight ``distractor_scale`` add off-target content.
    """

    def __init__(self, attributes, *, distractors: int = 8, distractor_scale: float = 0.5,
                 shared: float = 1.0, seed: int = 0):
        super().__init__()
        self.name = "face-measures"
        self.attributes, self.shared = attributes, shared
        self.embed_dim = len(FACE_AXES) + distractors
        self.vocabulary = dict(FACE_VOCABULARY)
        self.image_size = 64
        patterns = smooth_patterns(distractors, self.image_size, seed=seed).flatten(1)
        self.register_buffer("patterns", patterns * distractor_scale / max(distractors, 1) ** 0.5)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """The face nets crop and normalise FFHQ-aligned faces themselves: images pass as is."""
        return images

    def _encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``images: (N, 3, H, W)`` FFHQ-aligned faces in [-1, 1] -> ``(N, embed_dim)``."""
        out = self.attributes.predict(images, ffhq_aligned=True)
        small = F.interpolate(images.float(), size=(self.image_size,) * 2, mode="area")
        logits = out["expression_logits"]  # happy vs neutral margin: unsaturated, unlike softmax
        axes = [torch.full_like(out["age"], self.shared), (logits[:, 1] - logits[:, 0]) / 10,
                (out["age"] - 35) / 100, (out["gender_male_prob"] - 0.5) / 2]
        measures = torch.stack(axes, dim=1)
        return torch.cat([measures, small.flatten(1) @ self.patterns.T], 1)

    @staticmethod
    def axis(word: str) -> str:
        """The measure a word drives ("smiling" -> "happy")."""
        return FACE_AXES[FACE_VOCABULARY[word][0]]


def vocabulary_prompt_axes(model: _VocabularyText, prompt: str) -> Sequence[int]:
    """Axes a prompt activates (for tests and explanations)."""
    return sorted({model.vocabulary[w][0] for w in WORD.findall(prompt.lower())
                   if w in model.vocabulary})


class FilterClip(_VocabularyText):
    """A text-image model whose right answer is an image filter (the adaptation benchmark's
    constructed model for StyleGAN-NADA).

    Axis 1 reads how far an image has moved from the parent's faces towards their filtered
    versions, in the embedding of ``backbone``: ``<E(x) - mean E(G(w)), d> / |d|^2`` with
    ``d = mean E(f(G(w))) - mean E(G(w))`` over ``faces`` seeded faces (0 for a parent face,
    about 1 for a filtered one), scaled by ``spread``. Words: the filter's name (and
    "filtered") +1, "photo" / "photograph" -1; distractor axes read the backbone embedding
    through random projections. So "photo" -> "<filter>" asks exactly for the filter.
    """

    def __init__(self, G, filter_name: str, backbone, *, faces: int = 16, distractors: int = 8,
                 spread: float = 0.5, shared: float = 1.0, seed: int = 0):
        super().__init__()
        from ..adaptation.filters import apply_filter

        self.name = f"filter:{filter_name}:{backbone.name}"
        self.backbone, self.shared, self.spread = backbone, shared, spread
        self.embed_dim = 2 + distractors
        self.image_size = backbone.input_size
        self.vocabulary = {filter_name: (1, 1.0), "filtered": (1, 1.0),
                           "photo": (1, -1.0), "photograph": (1, -1.0)}
        size = min(G.sizes, key=lambda s: abs(s - 256))
        with torch.no_grad():
            x = G.synthesis(G.sample_w(faces, seed=seed, truncation_psi=0.7), size=size)
            x = x.clamp(-1, 1)
            src, dst = backbone.embed(x), backbone.embed(apply_filter(filter_name, x))
        mean = src.mean(0)
        d = dst.mean(0) - mean
        gen = torch.Generator().manual_seed(seed + 1)
        noise = torch.randn(distractors, len(mean), generator=gen)
        noise = noise / noise.norm(dim=1, keepdim=True) * spread / max(distractors, 1) ** 0.5
        scale = (src - mean).norm(dim=1).mean().clamp_min(1e-8)
        self.register_buffer("centre", mean)
        self.register_buffer("axis", d / d.square().sum())
        self.register_buffer("noise", noise / scale)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return images  # the backbone resizes and normalises itself

    def _encode_image(self, images: torch.Tensor) -> torch.Tensor:
        e = self.backbone.embed(images.clamp(-1, 1)) - self.centre
        score = (e @ self.axis)[:, None] * self.spread
        shared = torch.full_like(score, self.shared)
        return torch.cat([shared, score, e @ self.noise.T], dim=1)
