"""Refit MobileStyleGAN's early-exit image heads by distillation (CPU, ~10 min).

The published IR keeps only the final 1024px ``to_img``. MobileStyleGAN trained
a head on every block to match the teacher at that block's resolution; this
script refits the heads of blocks 4 and 5 (256px and 512px images) against the
full network's own output, area-downsampled (the exact low band of its wavelet).

Each head is ``wavelet = W (scale * s(w) * h) + b`` per pixel: linear in the
block features ``h`` for a fixed style ``s(w) = A w + c``. We solve for ``W, b``
in closed form with ``s = 1``, then fit ``A, c, W, b`` with Adam on pixels
sampled from many faces, and report held-out PSNR against the exact downsample.

    python training/distill_mobile_heads.py --samples 192 --out stylelab/assets/mobilestylegan_ffhq_heads.safetensors

Nothing imports this file.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from stylelab.cache import save_checked
from stylelab.latents import z_from_seeds
from stylelab.models.layers import haar_dwt
from stylelab.registry import load_generator

BLOCKS = (4, 5)


@torch.no_grad()
def collect(G, seeds, pixels: int, gen: torch.Generator):
    """Per block: features (N, P, C) at sampled pixels, targets (N, P, 12), and w (N, 512)."""
    feats = {k: [] for k in BLOCKS}
    targets = {k: [] for k in BLOCKS}
    ws = []
    for seed in tqdm(seeds, desc="teacher forward"):
        psi = 0.4 + 0.6 * torch.rand((), generator=gen).item()
        w = G.map(z_from_seeds([seed]), psi)
        out = G.synthesize(w, size=1024, return_features=[f"b{k}" for k in BLOCKS])
        for k in BLOCKS:
            h = out.features[f"b{k}"][0]  # (C, R, R)
            r = h.shape[-1]
            target = haar_dwt(F.adaptive_avg_pool2d(out.image, 2 * r))[0]  # (12, R, R)
            idx = torch.randint(0, r * r, (pixels,), generator=gen)
            feats[k].append(h.flatten(1)[:, idx].T)
            targets[k].append(target.flatten(1)[:, idx].T)
        ws.append(w)
    return ({k: torch.stack(v) for k, v in feats.items()},
            {k: torch.stack(v) for k, v in targets.items()}, torch.cat(ws))


def closed_form(head, h: torch.Tensor, y: torch.Tensor) -> None:
    """Least-squares ``W, b`` for ``y = W (scale * h) + b`` (style fixed at 1)."""
    x = torch.cat([h.reshape(-1, h.shape[-1]) * head.conv.scale,
                   torch.ones(h.shape[0] * h.shape[1], 1)], 1).double()
    xtx = x.T @ x + 1e-6 * torch.eye(x.shape[1], dtype=x.dtype)
    sol = torch.linalg.solve(xtx, x.T @ y.reshape(-1, 12).double()).float()
    head.conv.weight.data.copy_(sol[:-1].T.reshape(12, -1, 1, 1))
    head.bias.data.copy_(sol[-1].view(1, 12, 1, 1))


def head_predict(head, affine, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(N, P, C) features, (N, 512) w -> (N, P, 12) wavelet coefficients."""
    s = affine(w) * head.conv.scale  # (N, C)
    weight = head.conv.weight.view(12, -1)
    return torch.einsum("npc,nc,oc->npo", h, s, weight) + head.bias.view(1, 1, 12)


def fit(head, affine, h, y, w, steps: int, lr: float = 3e-3) -> list[float]:
    params = [*head.parameters(), *affine.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    for _ in tqdm(range(steps), desc="fit head"):
        idx = torch.randint(0, h.shape[0], (16,))
        loss = F.mse_loss(head_predict(head, affine, h[idx], w[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    for p in params:
        p.requires_grad_(False)
    return losses


@torch.no_grad()
def evaluate(G, seeds) -> dict[str, float]:
    """Mean PSNR (dB, images in [-1, 1] -> peak-to-peak 2) of early exits vs exact downsample."""
    psnr = {s: [] for s in (256, 512)}
    for seed in seeds:
        w = G.map(z_from_seeds([seed]), 0.7)
        G.exit_mode = "downsample"
        full = G.synthesis(w, size=1024)
        G.exit_mode = "early"
        for size in psnr:
            ref = F.adaptive_avg_pool2d(full, size).clamp(-1, 1)
            mse = F.mse_loss(G.synthesis(w, size=size).clamp(-1, 1), ref).item()
            psnr[size].append(10 * math.log10(4.0 / mse))
    return {f"psnr_{s}px_db": sum(v) / len(v) for s, v in psnr.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=192)
    ap.add_argument("--pixels", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--eval-seeds", type=int, default=16)
    ap.add_argument("--feature-cache", default="", help="save/reuse teacher samples here")
    ap.add_argument("--out", default="stylelab/assets/mobilestylegan_ffhq_heads.safetensors")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    gen = torch.Generator().manual_seed(0)
    G = load_generator("mobilestylegan-ffhq")
    G.exit_mode = "downsample"
    cached = Path(args.feature_cache) if args.feature_cache else None
    if cached and cached.exists():
        h, y, w = torch.load(cached, weights_only=True)
    else:
        h, y, w = collect(G, range(10_000, 10_000 + args.samples), args.pixels, gen)
        if cached:
            torch.save((h, y, w), cached)
    report: dict[str, object] = {"samples": args.samples, "pixels_per_sample": args.pixels}
    for k in BLOCKS:
        head, affine = G.heads[str(k)], G.affines[f"b{k}_to_img"]
        affine.weight.data.zero_()
        affine.bias.data.fill_(1.0)
        closed_form(head, h[k], y[k])
        report[f"b{k}_closed_form_mse"] = F.mse_loss(head_predict(head, affine, h[k], w), y[k]).item()
        losses = fit(head, affine, h[k], y[k], w, args.steps)
        report[f"b{k}_fitted_mse"] = sum(losses[-100:]) / 100
    report.update(evaluate(G, range(20_000, 20_000 + args.eval_seeds)))
    report["minutes"] = round((time.time() - t0) / 60, 1)
    state = {k: v for k, v in G.state_dict().items()
             if k.startswith("heads.") or (k.startswith("affines.b") and "_to_img." in k)}
    save_checked(Path(args.out), state, {"report": report})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
