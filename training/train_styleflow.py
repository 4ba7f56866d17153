"""Train StyleFlow (a conditional CNF on W) on the labelled face set (nothing imports this).

Data: the face set ``mobilestylegan-ffhq-psi1`` (20,000 seeds with measured labels; W is
recomputed from the seeds, psi 1), faces with every attribute finite; the last ``--heldout``
faces are kept for evaluation. Attributes: :data:`stylelab.flows.ATTRIBUTES` in natural units,
standardised inside the model with statistics of the training faces. Objective: negative
log-likelihood ``-log p(w | a)`` (Hutchinson trace, Rademacher probes), Adam (the paper's lr
1e-3). Batches: a fixed permutation per epoch (seeded), so a resumed run continues exactly.

Checkpoints (resumable: run the same command again) in ``<stylelab cache>/training/styleflow/
<model>/``; the result goes to ``<cache>/flows/<model>/styleflow.safetensors`` (fp16 + .sha256
+ .json: command, steps, CPU time, held-out NLL), or ``--out`` (e.g. the package assets).
CPU by default; unchanged on CUDA (``--device auto``) and under ``accelerate launch``.

    python training/train_styleflow.py --model mobilestylegan-ffhq --epochs 30
    python training/train_styleflow.py --tiny      # seconds, tiny generator and flow
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from train_alignment import (
    Runner,
    add_run_args,
    command_line,
    resume,
    setup,
    train_loop,
    with_tiny_defaults,
)

from stylelab.cache import cache_dir
from stylelab.datasets.faceset import COLUMNS, FaceSet, load_faceset
from stylelab.flows import ATTRIBUTES, FlowConfig, StyleFlow, save_flow
from stylelab.registry import load_generator

TINY = {"model": "tiny-test", "epochs": 2, "batch_size": 16, "heldout": 16, "save_every": 3,
        "hidden": 16, "blocks": 2, "train_steps": 2}


class NLL(torch.nn.Module):
    """The training forward: mean ``-log p(w | a)`` per dimension (nats), one probe."""

    def __init__(self, flow: StyleFlow):
        super().__init__()
        self.flow = flow

    def forward(self, w: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        raw = attrs * self.flow.a_std + self.flow.a_mean  # log_prob takes natural units
        return -self.flow.log_prob(w, raw).mean() / w.shape[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mobilestylegan-ffhq")
    p.add_argument("--faceset", type=Path, help="shards or file (default: the shipped labels)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--heldout", type=int, default=2000)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--train-steps", type=int, default=8, help="RK4 steps over [0, T]")
    p.add_argument("--adjoint", action="store_true", help="solve gradients by the adjoint ODE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=50)
    add_run_args(p, "exported flow")
    args = p.parse_args(argv)
    return with_tiny_defaults(args, argv, TINY)


def tiny_faceset(G, n: int = 96) -> FaceSet:
    """Labels that depend on W (so there is something to learn), for ``--tiny``."""
    seeds = np.arange(n)
    fs = FaceSet(seeds, {c: np.zeros(n) for c in COLUMNS}, {"model": G.model_name, "psi": "1.0"})
    w = fs.latents(G).numpy()
    for i, name in enumerate(ATTRIBUTES):
        fs.labels[name] = w[:, i % w.shape[1]] * 10 + i
    return fs


def load_data(args, G) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(w (N, w_dim), attributes (N, A) natural units, first held-out row)."""
    fs = tiny_faceset(G) if args.tiny else (FaceSet.load(args.faceset) if args.faceset
                                           else load_faceset("mobilestylegan-ffhq-psi1"))
    keep = fs.valid(*ATTRIBUTES)
    w = fs.latents(G).float()[torch.from_numpy(keep)]
    attrs = torch.from_numpy(np.stack([fs.labels[a][keep] for a in ATTRIBUTES], 1)).float()
    return w, attrs, len(w) - args.heldout


def build(args, w: torch.Tensor, attrs: torch.Tensor) -> StyleFlow:
    config = FlowConfig(w_dim=w.shape[1], hidden=args.hidden, blocks=args.blocks,
                        train_steps=args.train_steps, adjoint=args.adjoint)
    stats = {"w_mean": w.mean(0), "w_std": w.std(0), "a_mean": attrs.mean(0),
             "a_std": attrs.std(0).clamp_min(1e-6)}
    torch.manual_seed(args.seed)
    return StyleFlow(config, stats)


@torch.no_grad()
def held_out_nll(flow: StyleFlow, w: torch.Tensor, attrs: torch.Tensor) -> float:
    gen = torch.Generator().manual_seed(0)
    total = sum(float(-flow.log_prob(w[b:b + 512], attrs[b:b + 512], generator=gen).sum())
                for b in range(0, len(w), 512))
    return total / (len(w) * w.shape[1])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    setup(args)
    runner = Runner(args.device)
    G = load_generator(args.model, runner.device)
    w, attrs, split = load_data(args, G)
    train_w, train_a = w[:split], attrs[:split]
    flow = build(args, train_w, train_a)
    per_epoch = max(1, split // (args.batch_size * runner.world))
    args.steps = args.epochs * per_epoch
    run_dir = args.run_dir or cache_dir() / "training" / "styleflow" / args.model
    out = args.out or cache_dir() / "flows" / args.model / "styleflow.safetensors"
    model = NLL(flow).to(runner.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    progress = resume(runner, run_dir, model, optimizer, args.fresh)
    model, optimizer = runner.prepare(model, optimizer)
    standard = (train_a - flow.a_mean) / flow.a_std
    done0 = progress.step

    def loss_fn(model, step: int) -> tuple[torch.Tensor, float]:
        epoch, k = divmod(step, per_epoch)
        perm = torch.randperm(split, generator=torch.Generator().manual_seed(args.seed + epoch))
        start = (k * runner.world + runner.rank) * args.batch_size
        idx = perm[start:start + args.batch_size]
        loss = model(train_w[idx].to(runner.device), standard[idx].to(runner.device))
        return loss, loss.item()

    train_loop(runner, model, optimizer, progress, args, run_dir, "styleflow", loss_fn)
    if not runner.is_main:
        return {}
    flow = runner.unwrap(model).flow.eval()
    nll = held_out_nll(flow, w[split:].to(runner.device), attrs[split:].to(runner.device))
    info = {"command": command_line(), "launcher": runner.launcher, "steps": progress.step,
            "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
            "train_faces": split, "heldout_faces": len(w) - split, "data_seed": args.seed,
            "cpu_seconds": round(progress.cpu_seconds, 1),
            "wall_seconds": round(progress.wall_seconds, 1), "device": str(runner.device),
            "torch_threads": torch.get_num_threads(),
            "metrics": {"heldout_nll_nats_per_dim": nll,
                        "heldout_bits_per_dim": nll / math.log(2)}}
    save_flow(flow, out, args.model, info)
    print(f"command: {info['command']}")
    print(f"steps: {progress.step} ({progress.step - done0} this sitting), CPU time "
          f"{progress.cpu_seconds:.1f} s; held-out NLL {nll:.4f} nats/dim")
    print(f"flow: {out}")
    return info


if __name__ == "__main__":
    main()
