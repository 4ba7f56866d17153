"""StyleCLIP latent optimization: edit one face by gradient descent on
``CLIP loss + λ_L2 · pull to the source latent + λ_ID · identity loss``, in W+ or S.

CLIP loss: ``1 - cos(E_img(G(latent)), E_txt(prompt))``. In S the variable is the style
offset in σ units (``s = s0 + u ⊙ σ``), so one learning rate suits every channel.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from ..clip.base import TextImageModel
from ..models.base import StyleGenerator
from ..models.stylespace import flatten_styles, style_std, unflatten_styles
from ..optim import StopCheck, flush_denormals, projector_lr, stopped
from .text import check_prompts, encode_prompt

SPACES = ("w+", "s")


@dataclass(frozen=True)
class ClipOptimizeConfig:
    """``space``: "w+" or "s"; ``l2``: weight of the squared distance to the source latent
    (W+: Euclidean over all entries; S: in σ units of each channel); ``identity``: weight
    of ``1 - cos`` of dlib descriptors; ``lr`` peaks after ``rampup`` and ramps down.

    ``lr=None`` picks the space's default: 0.1 in S (σ units, StyleCLIP's value) and 0.05
    in W+. StyleCLIP's 0.1 was set for StyleGAN2's W; MobileStyleGAN's W is narrower (0.42
    per-dimension spread), and there Adam's first steps at 0.1 overshoot: the CLIP loss
    rose again mid-run (0.51 -> 0.80 on one face) and one face of a 2-face batch collapsed
    to a flat image. At 0.05 the loss falls steadily, and lower (20 steps, 4 faces, "a
    smiling face" with stylelab/faces-minilm: 0.22 against 0.27; 60 steps: 0.17 against
    0.20), with identity 0.93-0.96."""

    space: str = "w+"
    steps: int = 60
    lr: float | None = None
    l2: float = 0.008
    identity: float = 0.1
    size: int = 256
    rampdown: float = 0.25
    rampup: float = 0.05

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.lr is None:
            object.__setattr__(self, "lr", 0.05 if self.space == "w+" else 0.1)


@dataclass
class TextEditResult:
    """``latent``: W+ ``(N, num_ws, w_dim)`` for W+ methods, else None; ``styles``: the
    edited S dict ``{layer: (N, C)}``; ``image``: ``(N, 3, size, size)`` in [-1, 1];
    ``history``: per-step loss terms; ``metrics``: e.g. CLIP similarity before/after;
    ``before``: the unedited source image ``(N, 3, size, size)`` in [-1, 1]."""

    styles: dict[str, torch.Tensor]
    image: torch.Tensor
    method: str
    latent: torch.Tensor | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    config: dict = field(default_factory=dict)
    before: torch.Tensor | None = None


def optimize_text(G: StyleGenerator, clip: TextImageModel, w: torch.Tensor, prompt: str,
                  config: ClipOptimizeConfig = ClipOptimizeConfig(), *, identity=None,
                  progress: bool = True, stop: StopCheck | None = None) -> TextEditResult:
    """Edit the faces ``w: (N, w_dim)`` or W+ ``(N, num_ws, w_dim)`` towards ``prompt``.

    ``identity``: a :class:`stylelab.faces.IdentityModel` (None: no identity term).
    Returns the last iterate (the L2 term keeps it near the source).
    """
    start = time.perf_counter()
    notes = check_prompts(clip, prompt)
    target = encode_prompt(clip, prompt).to(clip.device)
    w0 = G.to_wplus(w.to(G.device)).detach()
    with torch.no_grad():
        source = G.synthesis(w0, size=config.size)
        ref = identity.embed(source).detach() if identity is not None else None
    variable, render, pull = _parametrise(G, w0, config)
    optimizer = torch.optim.Adam([variable], lr=config.lr)
    history: list[dict[str, float]] = []
    with flush_denormals():
        for step in tqdm(range(config.steps), desc=f"StyleCLIP optimise ({config.space})",
                         disable=not progress):
            if stopped(stop):
                break
            for group in optimizer.param_groups:
                group["lr"] = projector_lr(step, config.steps, config.lr, config.rampup,
                                             config.rampdown)
            image = render(variable)
            terms = {"clip": 1 - (clip.encode_image(image) @ target).mean(),
                     "l2": pull(variable)}
            if ref is not None and config.identity > 0:
                terms["identity"] = identity.identity_loss(image, ref).mean()
            total = terms["clip"] + config.l2 * terms["l2"] + config.identity * terms.get(
                "identity", torch.zeros(()))
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            history.append({"step": step, "total": float(total.detach()),
                            **{k: float(v.detach()) for k, v in terms.items()}})
    with torch.no_grad():
        styles = _styles(G, variable, w0, config)
        image = G.synthesis(styles, size=config.size)
        metrics = clip_metrics(clip, source, image, target)
        if ref is not None:
            metrics["identity"] = 1 - float(identity.identity_loss(image, ref).mean())
    latent = variable.detach().cpu() if config.space == "w+" else None
    return TextEditResult({k: v.cpu() for k, v in styles.items()}, image.cpu(), "optimize",
                          latent, history, metrics, notes, time.perf_counter() - start,
                          asdict(config) | {"prompt": prompt}, source.cpu())


def _parametrise(G: StyleGenerator, w0: torch.Tensor, config: ClipOptimizeConfig):
    """(leaf variable, variable -> image, variable -> L2 pull)."""
    if config.space == "w+":
        variable = w0.clone().requires_grad_(True)
        return (variable, lambda v: G.synthesis(v, size=config.size),
                lambda v: (v - w0).square().sum() / len(v))
    std = style_std(G).to(w0)
    base = flatten_styles(G, G.w_to_s(w0)).detach()
    variable = torch.zeros_like(base, requires_grad=True)

    def render(v):
        return G.synthesis(unflatten_styles(G, base + v * std), size=config.size)

    return variable, render, lambda v: v.square().sum(1).mean()


def _styles(G: StyleGenerator, variable: torch.Tensor, w0: torch.Tensor,
            config: ClipOptimizeConfig) -> dict[str, torch.Tensor]:
    if config.space == "w+":
        return G.w_to_s(variable)
    base = flatten_styles(G, G.w_to_s(w0))
    return unflatten_styles(G, base + variable * style_std(G).to(base))


def clip_metrics(clip: TextImageModel, before: torch.Tensor, after: torch.Tensor,
                 target: torch.Tensor) -> dict[str, float]:
    """CLIP similarity of the before/after images ``(N, 3, H, W)`` to ``target: (D,)``."""
    with torch.no_grad():
        b = clip.encode_image(before) @ target.to(clip.device)
        a = clip.encode_image(after) @ target.to(clip.device)
    return {"clip_before": float(b.mean()), "clip_after": float(a.mean())}
