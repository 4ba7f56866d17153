"""StyleCLIP latent mapper: a small per-prompt network predicting a W+ residual.

Three MLPs (coarse / medium / fine W+ entries, as in StyleCLIP) each map their entries
``w: (N, n, w_dim)`` through PixelNorm and ``layers`` x (Linear, LeakyReLU); the edit is
``w + scale · M(w)``. Trained on mapped random faces with
``CLIP loss + λ_L2 mean(M(w)²) + λ_ID (1 - identity cos)``; inference is one MLP pass.
Checkpoints are safetensors (mapper weights, Adam state, step, config) and resume exactly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from ..clip.base import ClipError, TextImageModel
from ..fileio import atomic_write
from ..models.base import StyleGenerator
from ..models.stylespace import latent_signature
from ..optim import StopCheck, flush_denormals, stopped
from .text import check_prompts, encode_prompt

GROUPS = ("coarse", "medium", "fine")


def group_ranges(num_ws: int) -> dict[str, tuple[int, int]]:
    """W+ entries per group, in StyleCLIP's proportions (4 / 4 / 10 of 18)."""
    n = max(1, round(num_ws * 4 / 18))
    return {"coarse": (0, n), "medium": (n, min(2 * n, num_ws - 1)),
            "fine": (min(2 * n, num_ws - 1), num_ws)}


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + 1e-8)


def _mlp(w_dim: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = [PixelNorm()]
    for _ in range(layers):
        mods += [nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2)]
    return nn.Sequential(*mods)


class LatentMapper(nn.Module):
    """``w: (N, num_ws, w_dim)`` -> residual ``(N, num_ws, w_dim)`` (already times ``scale``).
    ``groups``: which of coarse / medium / fine are edited (others get zero)."""

    def __init__(self, num_ws: int, w_dim: int, layers: int = 4, scale: float = 0.1,
                 groups: tuple[str, ...] = GROUPS):
        super().__init__()
        unknown = set(groups) - set(GROUPS)
        if unknown or not groups:
            raise ValueError(f"groups must be a non-empty subset of {GROUPS}, got {groups}")
        self.num_ws, self.w_dim, self.scale = num_ws, w_dim, scale
        self.ranges = {g: r for g, r in group_ranges(num_ws).items() if g in groups}
        self.nets = nn.ModuleDict({g: _mlp(w_dim, layers) for g in self.ranges})
        for net in self.nets.values():  # start near zero: the edit grows from the source
            last = [m for m in net if isinstance(m, nn.Linear)][-1]
            nn.init.normal_(last.weight, std=1e-3)
            nn.init.zeros_(last.bias)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(w)
        for g, (a, b) in self.ranges.items():
            out[:, a:b] = self.nets[g](w[:, a:b])
        return out * self.scale


@dataclass(frozen=True)
class MapperConfig:
    """Training settings. ``psi``: truncation of training faces; ``checkpoint_every``: steps."""

    prompt: str
    steps: int = 200
    batch: int = 2
    lr: float = 1e-3
    clip: float = 1.0
    l2: float = 0.8
    identity: float = 0.1
    size: int = 256
    psi: float = 0.7
    layers: int = 4
    groups: tuple[str, ...] = GROUPS
    checkpoint_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise ValueError("steps and batch must be at least 1")


@dataclass
class MapperTraining:
    mapper: LatentMapper
    step: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def new_mapper(G: StyleGenerator, config: MapperConfig) -> LatentMapper:
    """A freshly initialised mapper, seeded by ``config.seed`` (the global RNG is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return LatentMapper(G.num_ws, G.w_dim, config.layers,
                            groups=tuple(config.groups)).to(G.device)


def train_mapper(G: StyleGenerator, clip: TextImageModel, config: MapperConfig, *,
                 identity=None, checkpoint: str | Path | None = None, resume: bool = True,
                 stop_at: int | None = None, progress: bool = True,
                 stop: StopCheck | None = None) -> MapperTraining:
    """Train (or resume training of) a mapper for ``config.prompt`` up to ``config.steps``.

    ``checkpoint``: safetensors path written every ``checkpoint_every`` steps and at the
    end; with ``resume`` an existing one continues from its step (its config must match;
    a larger ``steps`` extends the run). ``stop_at``: pause after this step (checkpointed),
    as an interruption would; the same call without it finishes the run exactly. ``stop``:
    polled every step; True pauses the same way (the checkpoint keeps the steps done).
    """
    start = time.perf_counter()
    check_prompts(clip, config.prompt)
    target = encode_prompt(clip, config.prompt).to(clip.device)
    mapper = new_mapper(G, config)
    optimizer = torch.optim.Adam(mapper.parameters(), lr=config.lr)
    done, history = 0, []
    if checkpoint is not None and resume and Path(checkpoint).is_file():
        done, history = load_checkpoint(checkpoint, mapper, optimizer, G, clip, config)
    gen = torch.Generator().manual_seed(config.seed)
    for _ in range(done * config.batch):  # the same face stream after a resume
        torch.randn(1, G.z_dim, generator=gen)
    end = config.steps if stop_at is None else min(stop_at, config.steps)
    bar = tqdm(range(done, end), desc=f"train mapper '{config.prompt[:30]}'",
               disable=not progress, initial=done, total=config.steps)
    with flush_denormals():
        for step in bar:
            if stopped(stop):
                break
            for group in optimizer.param_groups:
                group["lr"] = mapper_lr(step, config)
            z = torch.cat([torch.randn(1, G.z_dim, generator=gen) for _ in range(config.batch)])
            terms = _mapper_loss(G, clip, mapper, z.to(G.device), target, config, identity)
            total = sum(getattr(config, k) * v for k, v in terms.items())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            history.append({"step": step, "total": float(total.detach()),
                            **{k: float(v.detach()) for k, v in terms.items()}})
            done = step + 1
            if checkpoint is not None and done % config.checkpoint_every == 0:
                save_checkpoint(checkpoint, mapper, optimizer, done, history, G, clip, config)
    if checkpoint is not None:
        save_checkpoint(checkpoint, mapper, optimizer, done, history, G, clip, config)
    mapper.eval()
    return MapperTraining(mapper, done, history, time.perf_counter() - start)


def mapper_lr(step: int, config: MapperConfig) -> float:
    """Cosine decay from ``lr`` to ``lr / 10`` over the run: the last steps average out
    the noise of small batches instead of ending on a large update."""
    t = step / max(config.steps - 1, 1)
    return config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


def _mapper_loss(G, clip, mapper, z, target, config: MapperConfig, identity):
    with torch.no_grad():
        w = G.to_wplus(G.map(z, config.psi))
        source = G.synthesis(w, size=config.size) if identity is not None else None
    delta = mapper(w)
    image = G.synthesis(w + delta, size=config.size)
    terms = {"clip": 1 - (clip.encode_image(image) @ target).mean(),
             "l2": delta.square().mean()}  # StyleCLIP's MSE over all W+ entries
    if identity is not None and config.identity > 0:
        ref = identity.embed(source).detach()
        terms["identity"] = identity.identity_loss(image, ref).mean()
    return terms


def apply_mapper(mapper: LatentMapper, w: torch.Tensor, G: StyleGenerator,
                 strength: float = 1.0) -> torch.Tensor:
    """``w`` (W or W+) -> edited W+ ``w + strength · M(w)``."""
    wp = G.to_wplus(w.to(G.device))
    with torch.no_grad():
        return wp + strength * mapper(wp)


# ----------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, mapper: LatentMapper, optimizer: torch.optim.Optimizer,
                    step: int, history: list[dict], G: StyleGenerator, clip: TextImageModel,
                    config: MapperConfig) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"mapper.{k}": v for k, v in mapper.state_dict().items()}
    names = {id(p): n for n, p in mapper.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for k, v in optimizer.state.get(p, {}).items():
                value = torch.as_tensor(v).reshape(-1) if k == "step" else v
                tensors[f"adam.{names[id(p)]}.{k}"] = value
    meta = {"format": "stylelab-mapper-1", "step": str(step), "model": G.model_name,
            "signature": latent_signature(G, "w"), "clip": clip.name,
            "num_ws": str(G.num_ws), "w_dim": str(G.w_dim),
            "config": json.dumps(asdict(config)), "history": json.dumps(history[-2000:])}
    with atomic_write(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
                  meta)
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises several types for bad files
        raise ClipError(f"{path} is not a readable mapper checkpoint ({exc}); "
                        "expected a safetensors file written by stylelab") from exc
    if meta.get("format") != "stylelab-mapper-1":
        raise ClipError(f"{path} is not a stylelab mapper checkpoint (no mapper metadata)")
    return tensors, meta


def load_mapper(path: str | Path, G: StyleGenerator | None = None
                ) -> tuple[LatentMapper, MapperConfig, dict[str, str]]:
    """A trained mapper, its config and metadata; checks it belongs to ``G`` when given."""
    tensors, meta = _read(Path(path))
    config = MapperConfig(**{**json.loads(meta["config"]),
                             "groups": tuple(json.loads(meta["config"])["groups"])})
    if G is not None and meta["signature"] != latent_signature(G, "w"):
        raise ClipError(f"{path} was trained for {meta['model']}, not {G.model_name}")
    mapper = LatentMapper(int(meta["num_ws"]), int(meta["w_dim"]), config.layers,
                          groups=tuple(config.groups))
    mapper.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("mapper.")})
    return mapper.eval(), config, meta


def load_checkpoint(path: str | Path, mapper: LatentMapper, optimizer: torch.optim.Optimizer,
                    G: StyleGenerator, clip: TextImageModel, config: MapperConfig
                    ) -> tuple[int, list[dict]]:
    """Restore mapper and Adam state in place; returns (step, history)."""
    tensors, meta = _read(Path(path))
    saved = json.loads(meta["config"])
    mismatched = [k for k in ("prompt", "layers", "batch", "seed", "psi", "size")
                  if saved.get(k) != asdict(config).get(k)]
    if meta["signature"] != latent_signature(G, "w") or meta["clip"] != clip.name or mismatched:
        raise ClipError(f"{path} belongs to another training run (differs in "
                        f"{mismatched or 'generator/CLIP model'}); pass resume=False or "
                        "another checkpoint path")
    mapper.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("mapper.")})
    for name, p in mapper.named_parameters():
        state = {k.rsplit(".", 1)[1]: v for k, v in tensors.items()
                 if k.startswith(f"adam.{name}.")}
        if state:
            state["step"] = state["step"].reshape(())
            optimizer.state[p] = state
    return int(meta["step"]), json.loads(meta.get("history", "[]"))
