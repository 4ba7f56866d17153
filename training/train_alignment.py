"""Train CLCAE's contrastive W-image alignment module (stage 1 of CLCAE; nothing imports this
file except ``training/train_encoder.py``, which shares its helpers).

Data: (image, w) pairs rendered on the fly from a deterministic seed stream: training step s
of process r (of R) uses seeds ``(s * R + r) * B ... + B - 1`` (all below 10_000_000), each
with truncation psi drawn from the seed in [psi_min, 1]; evaluation uses held-out seeds from
10_000_000. Images are rendered at ``--render-size`` and resized to the aligner's input.

Checkpoints (resumable: run the same command again): ``<stylelab cache>/training/alignment/
<model>/checkpoint.safetensors`` (model and flattened optimiser tensors) + ``state.json``
(steps, CPU time, optimiser hyper-parameters). The trained module goes to
``<cache>/encoders/<model>/aligner.safetensors`` (+ .json: command, steps, CPU time,
retrieval accuracy on held-out pairs), where ``train_encoder.py --kind clcae`` finds it.

CPU by default; the same command runs on CUDA (``--device auto``) and under
``accelerate launch --num_processes N training/train_alignment.py ...`` (HF accelerate is
used when importable, plain torch otherwise).

    python training/train_alignment.py --model mobilestylegan-ffhq --steps 2000 --batch-size 32
    python training/train_alignment.py --tiny        # a few steps on tiny test models
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from stylelab.cache import cache_dir, load_checked, read_metadata, save_checked
from stylelab.encoders import AlignmentConfig, WImageAligner, aligner_path, save_aligner
from stylelab.latents import z_from_seeds
from stylelab.plugins import load_plugins
from stylelab.registry import load_generator

HELD_OUT = 10_000_000  # evaluation seeds start here; training seeds stay below
CHECKPOINT = "checkpoint.safetensors"


# ------------------------------------------------------------------------ data
def training_seeds(step: int, batch: int, rank: int = 0, world: int = 1) -> list[int]:
    """The seeds of one process's batch at ``step`` (a fixed stream: resuming continues it)."""
    start = (step * world + rank) * batch
    if start + batch > HELD_OUT:
        raise ValueError("the training seed stream reached the held-out seeds")
    return list(range(start, start + batch))


def eval_seeds(n: int) -> list[int]:
    return list(range(HELD_OUT, HELD_OUT + n))


def seed_psi(seeds: list[int], psi_min: float) -> torch.Tensor:
    """Per-seed truncation in [psi_min, 1], a fixed function of the seed."""
    u = torch.tensor([((s * 2654435761 + 12345) % 2**32) / 2**32 for s in seeds])
    return psi_min + (1 - psi_min) * u


@torch.no_grad()
def render_pairs(G, seeds: list[int], size: int, psi_min: float = 0.5
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, size, size)`` clamped to [-1, 1] and their ``w (N, w_dim)``."""
    w = G.map(z_from_seeds(seeds, G.z_dim).to(G.device))
    psi = seed_psi(seeds, psi_min).to(w)[:, None]
    w = G.w_avg.lerp(w, psi)
    return G.synthesis(w, size=size).clamp(-1, 1), w


# -------------------------------------------------------------------- runtime
class Runner:
    """HF accelerate when importable (multi-GPU under ``accelerate launch``), else plain torch."""

    def __init__(self, device: str = "auto"):
        self.accelerator = None
        try:
            from accelerate import Accelerator
        except ImportError:
            Accelerator = None
        if Accelerator is not None:  # backbone parts a forward skips are frozen: no unused
            self.accelerator = Accelerator(cpu=device == "cpu")  # parameters under DDP
            self.device = self.accelerator.device
            self.rank = self.accelerator.process_index
            self.world = self.accelerator.num_processes
        else:
            name = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
            self.device, self.rank, self.world = torch.device(name), 0, 1
        self.is_main = self.rank == 0

    def prepare(self, model, optimizer):
        if self.accelerator is None:
            return model.to(self.device), optimizer
        return self.accelerator.prepare(model, optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is None:
            loss.backward()
        else:
            self.accelerator.backward(loss)

    def unwrap(self, model):
        return model if self.accelerator is None else self.accelerator.unwrap_model(model)

    def barrier(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()

    @property
    def launcher(self) -> str:
        return f"accelerate ({self.world} processes)" if self.world > 1 else "python"


# ----------------------------------------------------------------- checkpoints
@dataclass
class Progress:
    """Counters kept across sittings."""

    step: int = 0
    cpu_seconds: float = 0.0  # CPU time of the main process (all threads), summed over sittings
    wall_seconds: float = 0.0


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    progress: Progress, args: dict) -> None:
    """Model and optimiser tensors as safetensors, counters and hyper-parameters as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    save_checked(folder / CHECKPOINT, tensors, {"step": str(progress.step)})
    info = {"step": progress.step, "cpu_seconds": progress.cpu_seconds,
            "wall_seconds": progress.wall_seconds, "optimizer_groups": opt["param_groups"],
            "optimizer_scalars": scalars, "args": args}
    tmp = folder / "state.json.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, folder / "state.json")


def load_checkpoint(folder: Path, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer) -> Progress | None:
    """Restore a checkpoint into ``model`` and ``optimizer``; None when there is none."""
    path = folder / CHECKPOINT
    if not path.exists() or not (folder / "state.json").exists():
        return None
    tensors = load_checked(path)
    info = json.loads((folder / "state.json").read_text())
    step = int(read_metadata(path)["step"])  # the tensors' own step (covered by the sha256)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, values in info.get("optimizer_scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": info["optimizer_groups"]})
    return Progress(step, float(info["cpu_seconds"]), float(info["wall_seconds"]))


def resume(runner: Runner, run_dir: Path, model: torch.nn.Module,
           optimizer: torch.optim.Optimizer, fresh: bool) -> Progress:
    """The checkpoint in ``run_dir`` restored into ``model`` and ``optimizer`` (unless
    ``fresh``), said on the main process; a new :class:`Progress` when there is none."""
    progress = None if fresh else load_checkpoint(run_dir, model, optimizer)
    progress = progress or Progress()
    if progress.step and runner.is_main:
        print(f"resuming from step {progress.step} ({run_dir})", flush=True)
    return progress


def add_run_args(p: argparse.ArgumentParser, out_help: str = "exported file") -> None:
    """The options every training script shares: device, threads, folders, --fresh, --tiny."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoint folder")
    p.add_argument("--out", type=Path, default=None, help=out_help)
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--tiny", action="store_true", help="tiny models, a few steps (tests)")


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["python", *sys.argv])


# ------------------------------------------------------------ the shared loop
def train_loop(runner: Runner, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               progress: Progress, args: argparse.Namespace, run_dir: Path, desc: str,
               loss_fn: Callable[[torch.nn.Module, int], tuple[torch.Tensor, float]]) -> None:
    """Steps ``progress.step .. args.steps``: ``loss_fn(model, step)`` gives (loss, the number
    shown in the bar); optional ``args.grad_clip``; a checkpoint every ``args.save_every``
    steps and at the end (main process); CPU and wall time added to ``progress``."""
    record = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    clip = getattr(args, "grad_clip", None)
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def count_time() -> None:
        nonlocal cpu0, wall0
        progress.cpu_seconds += time.process_time() - cpu0
        progress.wall_seconds += time.perf_counter() - wall0
        cpu0, wall0 = time.process_time(), time.perf_counter()

    bar = tqdm(range(progress.step, args.steps), initial=progress.step, total=args.steps,
               desc=desc, disable=not runner.is_main)
    for step in bar:
        loss, shown = loss_fn(model, step)
        optimizer.zero_grad(set_to_none=True)
        runner.backward(loss)
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        bar.set_postfix(loss=f"{shown:.3f}")
        progress.step = step + 1
        if runner.is_main and (progress.step % args.save_every == 0
                               or progress.step == args.steps):
            count_time()
            save_checkpoint(run_dir, runner.unwrap(model), optimizer, progress, record)
    runner.barrier()
    count_time()


def run_info(args: argparse.Namespace, runner: Runner, progress: Progress,
             metrics: dict[str, float], **extra) -> dict:
    """What a trained file records: command, steps, seeds, CPU time, metrics."""
    return {"command": command_line(), "launcher": runner.launcher, "steps": progress.step,
            "batch_size": args.batch_size, "processes": runner.world,
            "cpu_seconds": round(progress.cpu_seconds, 1),
            "wall_seconds": round(progress.wall_seconds, 1),
            "seeds": f"training 0..{progress.step * args.batch_size * runner.world - 1}, "
                     f"held-out {HELD_OUT}..{HELD_OUT + args.eval_n - 1}",
            "psi_min": args.psi_min, "device": str(runner.device),
            "torch_threads": torch.get_num_threads(), **extra, "metrics": metrics}


def report(info: dict, steps_here: int, what: str, path: Path) -> None:
    print(f"command: {info['command']}")
    print(f"steps: {info['steps']} ({steps_here} this sitting), batch {info['batch_size']}, "
          f"CPU time {info['cpu_seconds']:.1f} s, wall {info['wall_seconds']:.1f} s")
    print(f"metrics: {json.dumps(info['metrics'])}")
    print(f"{what}: {path}")


def with_tiny_defaults(args: argparse.Namespace, argv: list[str] | None, tiny: dict
                       ) -> argparse.Namespace:
    """With ``--tiny``: the ``tiny`` values for every option not given on the command line."""
    if args.tiny:
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in (argv or sys.argv[1:])
                 if a.startswith("--")}
        for key, value in tiny.items():
            if key not in given:
                setattr(args, key, value)
    return args


def setup(args: argparse.Namespace) -> None:
    """Threads, and plugins: ``$STYLELAB_PLUGINS`` (as the CLI), the test models for --tiny."""
    if args.threads:
        torch.set_num_threads(args.threads)
    load_plugins()
    if args.tiny:
        import stylelab.testing  # noqa: F401  (registers tiny-test and tiny-backbone)


# ---------------------------------------------------------------------- main
TINY = {"model": "tiny-test", "backbone": "tiny-backbone", "image_size": 32, "render_size": 32,
        "batch_size": 8, "steps": 4, "eval_n": 16, "save_every": 2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mobilestylegan-ffhq", help="generator name")
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--image-size", type=int, default=128, help="aligner input side")
    p.add_argument("--render-size", type=int, default=256, help="side the faces are rendered at")
    p.add_argument("--steps", type=int, default=2000, help="total steps (resumes count)")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per step and process")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--psi-min", type=float, default=0.5)
    p.add_argument("--eval-n", type=int, default=128, help="held-out pairs for the metrics")
    p.add_argument("--save-every", type=int, default=100)
    add_run_args(p, "exported aligner file")
    args = p.parse_args(argv)
    return with_tiny_defaults(args, argv, TINY)


def build(args: argparse.Namespace, G) -> WImageAligner:
    if args.tiny:
        config = AlignmentConfig(w_dim=G.w_dim, backbone=args.backbone,
                                 image_size=args.image_size, feature_dim=32, map_hidden=16,
                                 embed_dim=16, transformer_layers=1)
    else:
        config = AlignmentConfig(w_dim=G.w_dim, backbone=args.backbone,
                                 image_size=args.image_size)
    return WImageAligner(config, G.w_avg.detach().cpu())


@torch.no_grad()
def evaluate(aligner: WImageAligner, G, args: argparse.Namespace, device) -> dict[str, float]:
    aligner.eval()
    images, w = render_pairs(G, eval_seeds(args.eval_n), args.render_size, args.psi_min)
    loss = float(aligner.loss(images.to(device), w.to(device)))
    i2w, w2i = aligner.retrieval_accuracy(images.to(device), w.to(device))
    aligner.train()
    return {"eval_infonce": loss, "eval_top1_image_to_w": i2w, "eval_top1_w_to_image": w2i,
            "eval_pairs": args.eval_n, "temperature": 1 / aligner.scale.detach().item()}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    setup(args)
    runner = Runner(args.device)
    G = load_generator(args.model, runner.device)
    run_dir = args.run_dir or cache_dir() / "training" / "alignment" / args.model
    out = args.out or aligner_path(args.model)
    aligner = build(args, G).to(runner.device)  # before the optimiser state is loaded
    params = [p for p in aligner.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    progress = resume(runner, run_dir, aligner, optimizer, args.fresh)
    model, optimizer = runner.prepare(aligner, optimizer)
    done0 = progress.step

    def loss_fn(model, step: int) -> tuple[torch.Tensor, float]:
        seeds = training_seeds(step, args.batch_size, runner.rank, runner.world)
        images, w = render_pairs(G, seeds, args.render_size, args.psi_min)
        loss = model(images, w)  # forward = the InfoNCE loss (through DDP when wrapped)
        return loss, loss.item()

    train_loop(runner, model, optimizer, progress, args, run_dir, "alignment", loss_fn)
    if not runner.is_main:
        return {}
    aligner = runner.unwrap(model)
    info = run_info(args, runner, progress, evaluate(aligner, G, args, runner.device))
    save_aligner(aligner, out, args.model, info)
    report(info, progress.step - done0, "aligner", out)
    return info


if __name__ == "__main__":
    main()
