"""Train the "furry cars" appearance measure (:mod:`stylelab.aligned.appearance`); nothing
imports this file.

Data (rendered once per run, deterministic): ``--appearances`` + ``--heldout`` appearances,
each the fine W+ entries (``>= --cut``) of one latent (seeds from ``--seed``, psi 0.8) seen
through one filter domain (``--filters``, cycled; "none" = the photo domain), in ``--poses``
poses (coarse entries style-mixed from other latents), rendered at the model's smallest size
and resized to ``--size``. Objective: NT-Xent (temperature ``--temperature``) between two
poses of each appearance in a batch; the other appearances are the negatives. Metric:
retrieval top-1 on the held-out appearances (pose 0 -> pose 1 among all held-out), before
and after training.

Checkpoints (resumable: run the same command again) in ``<stylelab cache>/training/
appearance/<model>/``; the measure goes to ``<cache>/appearance/<model>.safetensors`` (fp16
+ .sha256 + .json: command, seeds, steps, CPU time, metrics), or ``--out`` (the package
assets). CPU by default; unchanged on CUDA (``--device auto``) and under ``accelerate
launch``.

    python training/train_appearance.py --model mobilestylegan-ffhq --steps 600
    python training/train_appearance.py --tiny        # seconds, tiny generator
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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

from stylelab.aligned.appearance import (
    AppearanceConfig,
    AppearanceModel,
    nt_xent,
    render_views,
    retrieval_accuracy,
)
from stylelab.cache import cache_dir, load_checked, save_checked
from stylelab.registry import load_generator

TINY = {"model": "tiny-test", "appearances": 24, "heldout": 8, "poses": 2, "cut": 3,
        "steps": 3, "batch_size": 8, "save_every": 2, "filters": "none,sepia"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mobilestylegan-ffhq")
    p.add_argument("--appearances", type=int, default=512)
    p.add_argument("--heldout", type=int, default=64)
    p.add_argument("--poses", type=int, default=3)
    p.add_argument("--cut", type=int, default=7, help="first fine (appearance) W+ entry")
    p.add_argument("--filters", default="none,sepia,cartoon,sketch,oil,canvas")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--filter-bank", type=int, default=16, help="number of learnt filters")
    p.add_argument("--bins", type=int, default=8)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=100)
    add_run_args(p, "exported appearance measure")
    args = p.parse_args(argv)
    return with_tiny_defaults(args, argv, TINY)


def load_views(args, G, run_dir: Path) -> torch.Tensor:
    """``(appearances + heldout, poses, 3, size, size)``, rendered once and kept in the run
    folder (keyed by the options that shape it)."""
    key = (f"views-{args.appearances + args.heldout}-{args.poses}-{args.cut}-{args.size}-"
           f"{args.seed}-{args.filters.replace(',', '_')}.safetensors")
    path = run_dir / key
    if path.exists():
        return load_checked(path)["views"].float()
    views = render_views(G, args.appearances + args.heldout, args.poses, cut=args.cut,
                         filters=args.filters.split(","), seed=args.seed, size=args.size)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checked(path, {"views": views.half()})
    return views


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    setup(args)
    runner = Runner(args.device)
    G = load_generator(args.model, runner.device)
    run_dir = args.run_dir or cache_dir() / "training" / "appearance" / args.model
    out = args.out or cache_dir() / "appearance" / f"{args.model}.safetensors"
    views = load_views(args, G, run_dir)
    train, held = views[:args.appearances], views[args.appearances:]
    torch.manual_seed(args.seed)
    model = AppearanceModel(AppearanceConfig(filters=args.filter_bank, bins=args.bins,
                                             size=args.size)).to(runner.device)
    before = retrieval_accuracy(model, held.to(runner.device))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    progress = resume(runner, run_dir, model, optimizer, args.fresh)
    model, optimizer = runner.prepare(model, optimizer)
    done0 = progress.step

    def loss_fn(model, step: int) -> tuple[torch.Tensor, float]:
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step * runner.world
                                            + runner.rank)
        idx = torch.randperm(len(train), generator=gen)[:args.batch_size]
        poses = torch.stack([torch.randperm(args.poses, generator=gen)[:2] for _ in idx])
        a, b = train[idx, poses[:, 0]], train[idx, poses[:, 1]]
        flip = torch.rand(len(idx), generator=gen) < 0.5  # mirrored faces: same appearance
        b = torch.where(flip[:, None, None, None], b.flip(-1), b)
        loss = nt_xent(model(a.to(runner.device)), model(b.to(runner.device)), args.temperature)
        return loss, loss.item()

    train_loop(runner, model, optimizer, progress, args, run_dir, "appearance", loss_fn)
    if not runner.is_main:
        return {}
    model = runner.unwrap(model).eval()
    after = retrieval_accuracy(model, held.to(runner.device))
    info = {"command": command_line(), "launcher": runner.launcher, "steps": progress.step,
            "batch_size": args.batch_size, "lr": args.lr, "temperature": args.temperature,
            "data": {"appearances": args.appearances, "heldout": args.heldout,
                     "poses": args.poses, "cut": args.cut, "filters": args.filters,
                     "size": args.size, "seed": args.seed, "psi": 0.8},
            "cpu_seconds": round(progress.cpu_seconds, 1),
            "wall_seconds": round(progress.wall_seconds, 1), "device": str(runner.device),
            "torch_threads": torch.get_num_threads(),
            "metrics": {"heldout_top1_before": before, "heldout_top1": after,
                        "chance": 1 / max(len(held), 1)}}
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().half() for k, v in model.state_dict().items()}
    state["bins"] = torch.tensor(args.bins)
    save_checked(out, state, {"model": args.model})
    out.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"command: {info['command']}")
    print(f"steps: {progress.step} ({progress.step - done0} this sitting), CPU time "
          f"{progress.cpu_seconds:.1f} s; held-out top-1 {before:.3f} -> {after:.3f} "
          f"(chance {info['metrics']['chance']:.3f})")
    print(f"appearance measure: {out}")
    return info


if __name__ == "__main__":
    main()
