"""Train a pSp / e4e / CLCAE encoder for a generator (nothing imports this file).

Data: generated (image, w) pairs rendered on the fly at the encoder's input size from the
deterministic seed stream of ``train_alignment.py`` (held-out seeds from 10_000_000 for the
metrics). Objective: :class:`stylelab.encoders.EncoderObjective` (L2 + VGG16 perceptual +
optional dlib identity on each reconstruction, latent loss to the known w, CLCAE's L_align
with the frozen aligner from ``train_alignment.py``, the F regulariser, e4e's delta term).

Checkpoints (resumable: run the same command again) in ``<stylelab cache>/training/encoders/
<model>/<run>/``; the result goes to ``<cache>/encoders/<model>/<kind>.safetensors`` (the
paper's variant) or ``<cache>/encoders/<model>/variants/<run>.safetensors`` (ablations:
``--attention tokens``, ``--no-f``, ``--align-weight 0``), fp16 + .sha256 + .json (command,
steps, CPU time, held-out metrics). ``--out stylelab/assets/encoders/<model>/<kind>.safetensors``
writes a file to ship.

CPU by default; unchanged on CUDA (``--device auto``) and under ``accelerate launch``.

    python training/train_alignment.py --model mobilestylegan-ffhq        # CLCAE needs it
    python training/train_encoder.py --model mobilestylegan-ffhq --kind clcae
    python training/train_encoder.py --tiny --kind e4e   # a few steps on tiny test models
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from train_alignment import (
    Progress,
    Runner,
    add_run_args,
    eval_seeds,
    load_checkpoint,
    render_pairs,
    report,
    run_info,
    setup,
    train_loop,
    training_seeds,
    with_tiny_defaults,
)

from stylelab.cache import cache_dir
from stylelab.encoders import (
    KINDS,
    Encoder,
    EncoderConfig,
    EncoderObjective,
    aligner_path,
    load_aligner,
    load_encoder_file,
    save_encoder,
)
from stylelab.metrics import psnr
from stylelab.registry import load_generator

TINY = {"model": "tiny-test", "backbone": "tiny-backbone", "input_size": 64, "batch_size": 4,
        "steps": 3, "perceptual": "tiny-backbone", "perceptual_size": 0, "eval_n": 8,
        "save_every": 2}
TINY_SIZES = {"channels": 16, "style_hidden": 16, "f_hidden": 16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mobilestylegan-ffhq", help="generator name")
    p.add_argument("--kind", choices=KINDS, default="clcae")
    p.add_argument("--attention", choices=("paper", "tokens"), default="paper")
    p.add_argument("--no-f", action="store_true", help="CLCAE without the F branch")
    p.add_argument("--f-layer", default=None, help="generator F layer (default: automatic)")
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=3000, help="total steps (resumes count)")
    p.add_argument("--batch-size", type=int, default=4, help="pairs per step and process")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--backbone-lr", type=float, default=None, help="default: --lr")
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--psi-min", type=float, default=0.5)
    p.add_argument("--perceptual", default="vgg16", help="backbone name, or 'none'")
    p.add_argument("--perceptual-size", type=int, default=128,
                   help="side images are resized to for the perceptual term (0: as rendered)")
    p.add_argument("--identity", choices=("none", "dlib"), default="none")
    p.add_argument("--aligner", type=Path, default=None, help="default: the cache's")
    p.add_argument("--recon", default=None,
                   help="reconstructions the image losses see, e.g. 'wplus,f' (default: the "
                        "kind's recipe; each costs a generator forward and backward)")
    for name, default in [("l2", None), ("perceptual-weight", None), ("identity-weight", None),
                          ("latent", None), ("align-weight", None), ("f-reg", None),
                          ("delta", None)]:
        p.add_argument(f"--{name}", type=float, default=default,
                       help="loss weight (default: the kind's recipe)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="start a fresh run from the matching weights of a saved encoder (e.g. "
                        "CLCAE from e4e: same pyramid, w head and map2style blocks)")
    p.add_argument("--eval-n", type=int, default=32, help="held-out faces for the metrics")
    p.add_argument("--save-every", type=int, default=50)
    add_run_args(p, "exported encoder file")
    args = p.parse_args(argv)
    return with_tiny_defaults(args, argv, TINY)


def run_name(args: argparse.Namespace) -> str:
    """The kind, plus the ablation switches that differ from the paper's recipe."""
    name = args.kind
    if args.kind == "clcae":
        name += "-tokens" if args.attention == "tokens" else ""
        name += "-nof" if args.no_f else ""
        name += "-noalign" if args.align_weight == 0 else ""
    return name


def build_objective(args: argparse.Namespace, G, device) -> EncoderObjective:
    weights = {k: getattr(args, a) for k, a in [
        ("l2", "l2"), ("perceptual_weight", "perceptual_weight"),
        ("identity_weight", "identity_weight"), ("latent", "latent"), ("align", "align_weight"),
        ("f_reg", "f_reg"), ("delta", "delta")] if getattr(args, a) is not None}
    perceptual = None
    if args.perceptual != "none":
        from stylelab.perceptual import PerceptualDistance

        perceptual = PerceptualDistance(args.perceptual,
                                        resize=args.perceptual_size or None).to(device)
    identity = None
    if args.identity == "dlib":
        from stylelab.faces import IdentityModel

        identity = IdentityModel().to(device).eval().requires_grad_(False)
    if args.recon:
        weights["reconstructions"] = tuple(r.strip() for r in args.recon.split(",") if r.strip())
    objective = EncoderObjective.for_kind(args.kind, perceptual=perceptual, identity=identity,
                                          **weights)
    if objective.align:
        path = args.aligner or aligner_path(args.model)
        if not Path(path).is_file():
            sys.exit(f"no alignment module at {path}: train it first with `python "
                     f"training/train_alignment.py --model {args.model}"
                     f"{' --tiny' if args.tiny else ''}`, or pass --align-weight 0")
        objective.aligner = load_aligner(path, G, device)
    return objective


@torch.no_grad()
def init_from(encoder: Encoder, path: Path) -> int:
    """Copy every tensor of the encoder file ``path`` whose name and shape match (checked
    file, generator refused if another); returns how many were copied."""
    source = load_encoder_file(path, encoder.generator).state_dict()
    own = encoder.state_dict()
    common = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    encoder.load_state_dict({**own, **common})
    return len(common)


@torch.no_grad()
def evaluate(encoder: Encoder, G, args: argparse.Namespace) -> dict[str, float]:
    """Held-out PSNR (dB) of each reconstruction, latent MSE to the true w, forward time."""
    sums: dict[str, float] = {}
    seconds = 0.0
    for start in range(0, args.eval_n, 8):
        seeds = eval_seeds(args.eval_n)[start:start + 8]
        images, w_true = render_pairs(G, seeds, args.input_size, args.psi_min)
        t0 = time.perf_counter()
        out = encoder.invert(images)
        seconds += time.perf_counter() - t0
        recon = {"w": G.synthesis(out.w, size=args.input_size),
                 "wplus": G.synthesis(out.wplus, size=args.input_size)}
        if out.f:
            recon["f"] = G.synthesis(out.wplus, size=args.input_size, features_in=out.f)
        for name, x in recon.items():
            key = f"psnr_{name}"
            sums[key] = sums.get(key, 0.0) + float(psnr(x.clamp(-1, 1), images).sum())
        sums["latent_mse_w"] = sums.get("latent_mse_w", 0.0) + float(
            (out.w - w_true).square().mean(1).sum())
    metrics = {k: round(v / args.eval_n, 4) for k, v in sums.items()}
    metrics["encoder_seconds_per_face"] = round(seconds / args.eval_n, 4)
    metrics["eval_faces"] = args.eval_n
    return metrics


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    setup(args)
    runner = Runner(args.device)
    G = load_generator(args.model, runner.device)
    name = run_name(args)
    run_dir = args.run_dir or cache_dir() / "training" / "encoders" / args.model / name
    default_out = cache_dir() / "encoders" / args.model
    out_path = args.out or (default_out / f"{name}.safetensors" if name == args.kind
                            else default_out / "variants" / f"{name}.safetensors")
    extra = TINY_SIZES if args.tiny else {}
    config = EncoderConfig.for_generator(
        G, args.kind, backbone=args.backbone, input_size=args.input_size,
        attention=args.attention, use_f=args.kind == "clcae" and not args.no_f,
        f_layer=args.f_layer, **extra)
    encoder = Encoder(config, G).to(runner.device)
    objective = build_objective(args, G, runner.device)
    backbone = [p for p in encoder.pyramid.backbone.parameters() if p.requires_grad]
    ids = {id(p) for p in backbone}
    rest = [p for p in encoder.parameters() if p.requires_grad and id(p) not in ids]
    optimizer = torch.optim.Adam([{"params": rest, "lr": args.lr},
                                  {"params": backbone, "lr": args.backbone_lr or args.lr}])
    progress = None if args.fresh else load_checkpoint(run_dir, encoder, optimizer)
    if progress is None and args.init_from:
        loaded = init_from(encoder, args.init_from)
        if runner.is_main:
            print(f"initialised {loaded} tensors from {args.init_from}", flush=True)
    progress = progress or Progress()
    if progress.step and runner.is_main:
        print(f"resuming from step {progress.step} ({run_dir})", flush=True)
    model, optimizer = runner.prepare(encoder, optimizer)
    done0, logs = progress.step, {}

    def loss_fn(model, step: int) -> tuple[torch.Tensor, float]:
        seeds = training_seeds(step, args.batch_size, runner.rank, runner.world)
        images, w_true = render_pairs(G, seeds, args.input_size, args.psi_min)
        total, step_logs = objective(G, model(images), images, w_true)
        logs.update(step_logs)
        return total, step_logs["total"]

    train_loop(runner, model, optimizer, progress, args, run_dir, f"encoder {name}", loss_fn)
    if not runner.is_main:
        return {}
    encoder = runner.unwrap(model)
    info = run_info(args, runner, progress, evaluate(encoder, G, args), last_losses=logs,
                    objective={k: getattr(objective, k) for k in (
                        "l2", "perceptual_weight", "identity_weight", "latent", "align", "f_reg",
                        "delta", "reconstructions")} | {
                        "perceptual": args.perceptual, "perceptual_size": args.perceptual_size,
                        "identity": args.identity})
    save_encoder(encoder, out_path, info)
    report(info, progress.step - done0, "encoder", out_path)
    return info


if __name__ == "__main__":
    main()
