"""The fine-tuning loop every adaptation method shares.

A method supplies a ``step_loss(child, step, w) -> (total, terms)`` closure; the loop owns the
copy of the parent, the trainable parameter groups (by style layer, see
:meth:`~stylelab.models.StyleGenerator.layer_parameters`), Adam, the latents of each step
(drawn from a per-step seed, so a resumed run sees the same batches), progress, previews,
cancelling and resumable checkpoints.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..cache import CacheError, load_checked, save_checked
from ..hashing import content_digest
from ..inversion.pti import param_groups, resolve_lr_scale
from ..models.base import StyleGenerator, module_key
from ..optim import StopCheck, flush_denormals, stopped

StepLoss = Callable[[StyleGenerator, int, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
Preview = Callable[[int, StyleGenerator, dict[str, float]], None]
Select = Callable[[StyleGenerator, int, torch.Tensor], "list[str] | None"]
MAX_STEPS = 5000
RGB_LAYERS = ("to_img", "to_rgb")


@dataclass(frozen=True)
class AdaptConfig:
    """Settings every method shares (each method's config extends it).

    ``steps`` and ``batch_size``: iterations and latents per iteration; ``lr`` is Adam's step
    (scaled per tensor by its RMS for MobileStyleGAN's folded weights, ``lr_scale``, as PTI
    does); ``psi``: truncation of the training latents; ``size``: training resolution
    (default: the offered size nearest 256); ``train_rgb`` / ``train_affines``: also train the
    image heads / the style affines (then S codes no longer match the parent's).
    """

    steps: int = 300
    batch_size: int = 2
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    lr_scale: str = "auto"
    psi: float = 1.0
    size: int | None = None
    seed: int = 0
    train_rgb: bool = False
    train_affines: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {self.steps}")
        if not 1 <= self.batch_size <= 64:
            raise ValueError(f"batch_size must be between 1 and 64, got {self.batch_size}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"lr must be in (0, 1], got {self.lr}")


def training_size(G: StyleGenerator, size: int | None) -> int:
    return G.check_size(size) if size else min(G.sizes, key=lambda s: abs(s - 256))


def trainable_names(G: StyleGenerator, *, w_indices: Iterable[int] | None = None,
                    rgb: bool = False, affines: bool = False) -> list[str]:
    """Parameters of the style layers whose W+ index is in ``w_indices`` (default all): their
    convolutions, biases and noise strengths; the image heads with ``rgb``; their style
    affines with ``affines``. The mapping network and the constant input never train."""
    chosen = None if w_indices is None else set(w_indices)
    groups = G.layer_parameters()
    names: list[str] = []
    for layer in G.style_layers:
        if chosen is not None and layer.w_index not in chosen:
            continue
        if rgb or not layer.name.split(".")[-1].startswith(RGB_LAYERS):
            names += groups[layer.name]
        if affines:
            names += [f"affines.{module_key(layer.name)}.{p}" for p in ("weight", "bias")]
    return list(dict.fromkeys(names))


def step_latents(G: StyleGenerator, config: AdaptConfig, step: int) -> torch.Tensor:
    """``(batch_size, w_dim)`` training latents of ``step`` (seeded by ``seed`` and step)."""
    return G.sample_w(config.batch_size, seed=config.seed * 1_000_003 + step,
                      truncation_psi=config.psi)


@dataclass
class TrainResult:
    tuned: StyleGenerator
    history: list[dict[str, float]]
    steps: int
    seconds: float
    cpu_seconds: float


def train(G: StyleGenerator, step_loss: StepLoss, config: AdaptConfig, names: list[str], *,
          desc: str, progress: bool = True, preview: Preview | None = None,
          preview_every: int = 0, stop: StopCheck | None = None,
          checkpoint: str | Path | None = None, save_every: int = 25,
          select: Select | None = None) -> TrainResult:
    """Fine-tune a copy of ``G`` (``G`` is unchanged): parameters ``names`` train for
    ``config.steps`` steps minimising ``step_loss``. ``preview(step, child, terms)`` runs every
    ``preview_every`` steps (under no_grad); ``stop()`` True ends the run early with what it
    has; ``checkpoint``: a folder to resume from and save to every ``save_every`` steps;
    ``select(child, step, w)``: the names (a subset of ``names``) that train this step, or
    None for all (StyleGAN-NADA's adaptive layers)."""
    if not names:
        raise ValueError("nothing to train: no parameters were selected")
    tuned = copy.deepcopy(G).requires_grad_(False)
    params = dict(tuned.named_parameters())
    chosen = {n: params[n].requires_grad_(True) for n in names}
    optimizer = torch.optim.Adam(param_groups(chosen, config.lr,
                                              resolve_lr_scale(G, config.lr_scale)),
                                 betas=config.betas)
    settings = {k: v for k, v in asdict(config).items() if k != "steps"}  # more steps: resume
    key = content_digest(json.dumps(settings, sort_keys=True, default=str), desc, names)
    ckpt = Checkpoint(Path(checkpoint), key) if checkpoint else None
    history = ckpt.restore(tuned, optimizer, chosen, G) if ckpt else []
    start, t0, c0 = len(history), time.perf_counter(), time.process_time()
    bar = tqdm(range(start, config.steps), desc=desc, disable=not progress,
               initial=start, total=config.steps)
    with flush_denormals():
        for step in bar:
            if stopped(stop):
                if ckpt and history and len(history) > start:
                    ckpt.save(tuned, optimizer, chosen, G, history)  # resume from here
                break
            w = step_latents(G, config, step)
            only = select(tuned, step, w) if select is not None else None
            total, terms = step_loss(tuned, step, w)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if only is not None:
                keep = set(only)
                for n, p in chosen.items():
                    if n not in keep:
                        p.grad = None
            optimizer.step()
            history.append({"step": step, **terms, "total": float(total.detach())})
            bar.set_postfix(loss=f"{float(total.detach()):.3f}")
            done = step + 1
            if ckpt and (done % save_every == 0 or done == config.steps):
                ckpt.save(tuned, optimizer, chosen, G, history)
            if preview and preview_every and done % preview_every == 0:
                with torch.no_grad():
                    preview(done, tuned, terms)
    tuned.requires_grad_(False).eval()
    return TrainResult(tuned, history, len(history), time.perf_counter() - t0,
                       time.process_time() - c0)


class Checkpoint:
    """``state.safetensors`` (weight deltas and Adam moments) + ``state.json`` (the run key and
    the history) in a folder. A folder from another run (other config) is refused."""

    def __init__(self, folder: Path, key: str):
        self.folder, self.key = folder, key

    def restore(self, tuned, optimizer, chosen, G) -> list[dict[str, float]]:
        info_path = self.folder / "state.json"
        if not info_path.is_file():
            return []
        info = json.loads(info_path.read_text())
        if info.get("key") != self.key:
            raise CacheError(f"{self.folder} holds a checkpoint of another adaptation run; "
                             "choose another checkpoint folder or delete it")
        tensors = load_checked(self.folder / "state.safetensors")
        base = dict(G.named_parameters())
        with torch.no_grad():
            for name, p in chosen.items():
                p.copy_(base[name] + tensors[f"delta.{name}"].to(p))
        for group in optimizer.param_groups:
            p = group["params"][0]
            name = next(n for n, q in chosen.items() if q is p)
            if f"exp_avg.{name}" in tensors:
                optimizer.state[p] = {"step": torch.tensor(float(info["adam_step"])),
                                      "exp_avg": tensors[f"exp_avg.{name}"].to(p),
                                      "exp_avg_sq": tensors[f"exp_avg_sq.{name}"].to(p)}
        return list(info["history"])

    def save(self, tuned, optimizer, chosen, G, history) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        base = dict(G.named_parameters())
        tensors = {f"delta.{n}": (p.detach() - base[n]).cpu() for n, p in chosen.items()}
        adam_step = 0
        for n, p in chosen.items():
            state = optimizer.state.get(p)
            if state:
                tensors[f"exp_avg.{n}"] = state["exp_avg"].cpu()
                tensors[f"exp_avg_sq.{n}"] = state["exp_avg_sq"].cpu()
                adam_step = int(state["step"])
        save_checked(self.folder / "state.safetensors", tensors)
        (self.folder / "state.json").write_text(json.dumps(
            {"key": self.key, "adam_step": adam_step, "history": history}))
