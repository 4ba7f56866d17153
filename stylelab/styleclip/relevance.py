"""Channel relevance for global directions: how each StyleSpace channel moves the CLIP
image embedding, averaged over faces.

StyleCLIP's definition (the "naive" one, :func:`naive_relevance`): for channel ``c`` and
face ``n``, render ``s_n ± 5 σ_c e_c``, take the difference of the two unit image
embeddings, normalise it, average over faces and normalise again:
``Δi_c = normalize(mean_n normalize(E(G(s_n + 5σ_c e_c)) - E(G(s_n - 5σ_c e_c))))``.
That is ``2 x S x N`` generator evaluations (7136 channels x 100 faces x 2 here).
StyleCLIP's reference code first sets the channel to its mean over samples, so every face
is measured over the same interval ``μ_c ± 5σ_c`` (``mean=`` here); the formula above, as
the paper writes it, steps from each face's own value.

Ours (:func:`channel_relevance`) replaces each difference by the Jacobian column
``J_n e_c`` of ``s -> E(G(s))`` and gets all columns of a face at once:

1. randomized range finder: ``k`` random style perturbations (scaled by σ) give, by
   central differences, ``J_n Ω`` (``2k`` forward passes, batched); its orthonormal
   basis ``U_n`` (``D x k``) spans where the embedding of this face can move;
2. ``k`` vector-Jacobian products ``U_nᵀ J_n`` (one backward pass batched over the k
   rows) give every channel's column projected on that span: ``J_n ≈ U_n U_nᵀ J_n``.

When ``k >= D`` step 1 is skipped and ``U_n = I`` (exact). Cost per face: ``2k`` forward
+ ``k`` backward passes, independent of the number of channels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..cache import (
    CacheError,
    cache_dir,
    encode_metadata,
    load_checked,
    read_metadata,
    save_checked,
)
from ..clip.base import ClipError, TextImageModel
from ..models.base import StyleGenerator
from ..models.stylespace import (
    flatten_styles,
    latent_signature,
    s_dim,
    style_std,
    unflatten_styles,
)

FD_SIGMAS = 5.0  # StyleCLIP's perturbation: ±5 standard deviations of the channel


class RelevanceStopped(ClipError):
    """The caller stopped a relevance computation (its checkpoint keeps the faces done)."""


@dataclass(frozen=True)
class RelevanceConfig:
    """``faces``: faces averaged over (seeded, truncation ``psi``); ``rank``: k, the probes
    per face (``>= embed_dim``: exact Jacobian); ``size``: render size (CLIP sees 224px);
    ``fd_scale``: range-finder step in σ units; ``chunk``: VJPs per batched backward."""

    faces: int = 32
    rank: int = 512
    size: int = 256
    psi: float = 0.7
    fd_scale: float = 0.5
    chunk: int = 32
    seed: int = 0


@dataclass
class Relevance:
    """``delta_i: (S, D)`` unit rows Δi_c (zero rows for channels with no effect);
    ``std: (S,)`` σ_c; ``evaluations``: generator passes used {"forward", "backward"};
    ``clip_digest``: the text-image model's ``weights_digest`` when it has one."""

    delta_i: torch.Tensor
    std: torch.Tensor
    model: str
    signature: str
    clip: str
    config: dict
    evaluations: dict
    clip_digest: str | None = None

    @property
    def embed_dim(self) -> int:
        return self.delta_i.shape[1]

    def check(self, G: StyleGenerator, clip: TextImageModel) -> None:
        if self.signature != latent_signature(G, "s"):
            raise ClipError(f"this relevance file was computed for {self.model}'s StyleSpace, "
                            f"not {G.model_name}'s; recompute it for this generator")
        digest = getattr(clip, "weights_digest", None)
        if self.clip_digest and digest and self.clip_digest != digest:
            raise ClipError(f"this relevance file was computed with other weights of {self.clip} "
                            "than the installed ones; recompute it (delete the cached file or "
                            "pass recompute=True)")
        if self.embed_dim != clip.embed_dim:
            raise ClipError(f"this relevance file was computed with a CLIP model of embedding "
                            f"size {self.embed_dim} ({self.clip}); {clip.name} has "
                            f"{clip.embed_dim}. Recompute relevance for this CLIP model "
                            "(delete the cached file or pass recompute=True)")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"model": self.model, "signature": self.signature, "clip": self.clip,
                "config": self.config, "evaluations": self.evaluations}
        if self.clip_digest:
            meta["clip_digest"] = self.clip_digest
        save_checked(path, {"delta_i": self.delta_i.half(), "std": self.std}, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Relevance:
        from safetensors import safe_open

        tensors = load_checked(Path(path))
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
        if "delta_i" not in tensors or "signature" not in meta:
            raise ClipError(f"{path} is not a stylelab relevance file; delete it to recompute")
        return cls(tensors["delta_i"].float(), tensors["std"], meta["model"], meta["signature"],
                   meta["clip"], _json(meta["config"]), _json(meta["evaluations"]),
                   meta.get("clip_digest"))


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def relevance_path(G: StyleGenerator, clip: TextImageModel) -> Path:
    """``<cache>/styleclip/<generator>/<clip>.safetensors``."""
    return cache_dir() / "styleclip" / G.model_name / f"{clip.cache_key}.safetensors"


def shipped_relevance_path(G: StyleGenerator, clip: TextImageModel) -> Path:
    """``stylelab/assets/styleclip/<generator>/<clip>.safetensors``: relevance shipped with the
    package (the embedded generator with the bundled face text-image model), used only when
    its ``clip_digest`` matches the installed model's weights."""
    return (Path(str(resources.files("stylelab"))) / "assets" / "styleclip" / G.model_name
            / f"{clip.cache_key}.safetensors")


def seeded_styles(G: StyleGenerator, n: int, psi: float, seed: int) -> torch.Tensor:
    """``(n, S)`` flattened styles of seeded faces."""
    with torch.no_grad():
        return flatten_styles(G, G.w_to_s(G.sample_w(n, seed=seed, truncation_psi=psi)))


def embed_styles(G: StyleGenerator, clip: TextImageModel, flat: torch.Tensor, size: int
                 ) -> torch.Tensor:
    """``flat: (B, S)`` styles -> ``(B, D)`` unit image embeddings."""
    return clip.encode_image(G.synthesis(unflatten_styles(G, flat), size=size))


def face_jacobian(G: StyleGenerator, clip: TextImageModel, flat: torch.Tensor,
                  std: torch.Tensor, config: RelevanceConfig, gen: torch.Generator
                  ) -> tuple[torch.Tensor, int, int]:
    """``(D, S)`` Jacobian (per σ) of one face's embedding ``flat: (1, S)``, projected on its
    range estimate; returns (jacobian, forward passes, backward passes)."""
    D = clip.embed_dim
    forward = 0
    if config.rank >= D:
        basis = torch.eye(D)
    else:
        omega = torch.randn(config.rank, flat.shape[1], generator=gen) * std * config.fd_scale
        with torch.no_grad():
            plus = embed_styles(G, clip, flat + omega.to(flat), config.size)
            minus = embed_styles(G, clip, flat - omega.to(flat), config.size)
        forward += 2 * config.rank
        basis, _ = torch.linalg.qr((plus - minus).T.cpu())  # (D, k)
        basis = basis.T  # (k, D) orthonormal rows
    x = flat.clone().requires_grad_(True)
    emb = embed_styles(G, clip, x, config.size)[0]
    forward += 1
    rows = [_vjp(emb, x, basis[i:i + config.chunk].to(emb)) for i in
            range(0, len(basis), config.chunk)]
    projected = torch.cat(rows)  # (k, S): basisᵀ J
    return basis.T @ (projected.cpu() * std), forward, len(basis)


def _vjp(out: torch.Tensor, x: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``vectors: (m, D)`` -> ``(m, S)`` rows ``vᵀ J``, batched when autograd allows it."""
    try:
        (g,) = torch.autograd.grad(out, x, vectors, retain_graph=True, is_grads_batched=True)
        return g[:, 0]
    except RuntimeError:  # an op without a batching rule: one backward per vector
        return torch.stack([torch.autograd.grad(out, x, v, retain_graph=True)[0][0]
                            for v in vectors])


def channel_relevance(G: StyleGenerator, clip: TextImageModel,
                      config: RelevanceConfig = RelevanceConfig(), *,
                      std: torch.Tensor | None = None, progress: bool = True,
                      checkpoint: str | Path | None = None,
                      stop: Callable[[], bool] | None = None) -> Relevance:
    """Δi for every S channel (see the module docstring): ``(S, D)`` unit rows.

    ``checkpoint``: a file the running sum is saved to after every face and resumed from
    (same generator, text model and config only; anything else starts afresh); an
    interrupted run continues where it stopped, with the result of an uninterrupted one.
    ``stop``: polled before each face; True raises :class:`RelevanceStopped`."""
    std = style_std(G) if std is None else std
    flats = seeded_styles(G, config.faces, config.psi, config.seed)
    key = {"signature": latent_signature(G, "s"), "clip": clip.name, "config": asdict(config),
           "clip_digest": getattr(clip, "weights_digest", None) or ""}
    checkpoint = Path(checkpoint) if checkpoint else None
    state = _resume(checkpoint, key) if checkpoint else None
    if state is None:
        gen = torch.Generator().manual_seed(config.seed + 1)
        state = {"total": torch.zeros(s_dim(G), clip.embed_dim, dtype=torch.float64),
                 "counts": torch.zeros(3, dtype=torch.int64), "rng": gen.get_state()}
    gen = torch.Generator()
    gen.set_state(state["rng"])
    total, counts = state["total"], state["counts"]  # counts: faces done, forward, backward
    for n in tqdm(range(int(counts[0]), config.faces), desc="channel relevance",
                  disable=not progress, initial=int(counts[0]), total=config.faces):
        if stop is not None and stop():
            kept = " (kept: run it again to continue)" if checkpoint else ""
            raise RelevanceStopped(f"channel relevance stopped after {n} of {config.faces} "
                                   f"faces{kept}")
        jac, f, b = face_jacobian(G, clip, flats[n:n + 1], std, config, gen)
        total += F.normalize(jac.T.double(), dim=1)
        counts += torch.tensor([1, f, b])
        if checkpoint:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            save_checked(checkpoint, {"total": total, "counts": counts, "rng": gen.get_state()},
                         key)
    return Relevance(F.normalize(total, dim=1).float(), std.float(), G.model_name,
                     key["signature"], clip.name, asdict(config),
                     {"forward": int(counts[1]), "backward": int(counts[2])},
                     key["clip_digest"] or None)


def _resume(path: Path, key: dict) -> dict | None:
    """The saved state of a run with exactly ``key``, or None (no file, or another run's)."""
    if not path.is_file():
        return None
    try:
        if read_metadata(path) != encode_metadata(key):
            return None
        return load_checked(path)
    except CacheError:
        return None


def naive_relevance(G: StyleGenerator, clip: TextImageModel, channels: Sequence[int], *,
                    faces: int = 16, size: int = 256, psi: float = 0.7, seed: int = 0,
                    std: torch.Tensor | None = None, batch: int = 8, sigmas: float = FD_SIGMAS,
                    progress: bool = True, mean: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, int]:
    """StyleCLIP's finite-difference Δi for ``channels`` only: ``(len(channels), D)`` unit
    rows, and the number of generator forward passes it took (``2 x channels x faces``).
    ``sigmas``: the step (StyleCLIP: ±5 σ); ``mean``: as in :func:`naive_differences`."""
    std = style_std(G) if std is None else std
    diffs = naive_differences(G, clip, channels, seeded_styles(G, faces, psi, seed), std,
                              size=size, batch=batch, sigmas=sigmas, progress=progress,
                              mean=mean)
    return F.normalize(diffs.mean(1), dim=1).float(), 2 * len(channels) * faces


def naive_differences(G: StyleGenerator, clip: TextImageModel, channels: Sequence[int],
                      flats: torch.Tensor, std: torch.Tensor, *, size: int = 256,
                      batch: int = 8, sigmas: float = FD_SIGMAS, progress: bool = True,
                      mean: torch.Tensor | None = None) -> torch.Tensor:
    """Per face: ``(len(channels), N, D)`` float64 unit differences
    ``normalize(E(G(s_n + h σ_c e_c)) - E(G(s_n - h σ_c e_c)))`` for ``flats: (N, S)``;
    with ``mean: (S,)`` channel ``c`` of every face is first set to ``mean[c]`` (StyleCLIP's
    reference code), so the two renders are at ``μ_c ± h σ_c``."""
    rows = []
    for c in tqdm(channels, desc="naive relevance", disable=not progress):
        base = flats if mean is None else flats.clone()
        if mean is not None:
            base[:, c] = mean[c]
        step = torch.zeros_like(flats)
        step[:, c] = sigmas * std[c]
        diffs = []
        with torch.no_grad():
            for i in range(0, len(flats), batch):
                sl = slice(i, i + batch)
                d = (embed_styles(G, clip, base[sl] + step[sl], size)
                     - embed_styles(G, clip, base[sl] - step[sl], size))
                diffs.append(F.normalize(d.double(), dim=1))
        rows.append(torch.cat(diffs))
    return torch.stack(rows)


def load_or_compute_relevance(G: StyleGenerator, clip: TextImageModel,
                              config: RelevanceConfig = RelevanceConfig(), *,
                              path: str | Path | None = None, recompute: bool = False,
                              progress: bool = True, stop: Callable[[], bool] | None = None
                              ) -> Relevance:
    """The cached relevance of (G, clip); else, with no ``path`` given, the one shipped in the
    package for these exact weights (:func:`shipped_relevance_path`); else computed (resumably:
    ``<path>.partial.safetensors`` holds the faces done so far; ``stop`` as in
    :func:`channel_relevance`) and cached on first use."""
    shipped = shipped_relevance_path(G, clip) if path is None and not recompute else None
    path = Path(path) if path is not None else relevance_path(G, clip)
    if path.is_file() and not recompute:
        relevance = Relevance.load(path)
        relevance.check(G, clip)
        return relevance
    if shipped is not None and shipped.is_file():
        relevance = Relevance.load(shipped)
        digest = getattr(clip, "weights_digest", None)
        if digest and relevance.clip_digest == digest:  # made with these very weights
            relevance.check(G, clip)
            return relevance
    # an interrupted computation (a closed hub, Ctrl-C) resumes from its partial sum
    partial = path.with_name(path.stem + ".partial.safetensors")
    relevance = channel_relevance(G, clip, config, progress=progress, checkpoint=partial,
                                  stop=stop)
    relevance.save(path)
    for leftover in (partial, partial.with_suffix(".sha256")):
        leftover.unlink(missing_ok=True)
    return relevance


def naive_cost(G: StyleGenerator, faces: int) -> int:
    """Generator forward passes of StyleCLIP's definition over all channels."""
    return 2 * s_dim(G) * faces


def ours_cost(config: RelevanceConfig, embed_dim: int) -> dict:
    k = min(config.rank, embed_dim)
    fwd = (2 * k if config.rank < embed_dim else 0) + 1
    return {"forward": fwd * config.faces, "backward": k * config.faces,
            "batched_backward": math.ceil(k / config.chunk) * config.faces}
