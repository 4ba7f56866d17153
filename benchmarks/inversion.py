"""Inversion quality and speed at 256px on CPU: W, W+ and PTI on two test sets.

(a) generated faces with known latents (seeds 100..), so the latent error is measurable;
(b) openpeople portraits (PyPI ``openpeople``, MIT), FFHQ-aligned with dlib.

Per method, perceptual term and set: PSNR, MS-SSIM, identity cosine (dlib ResNet), the
EfficientNet-Lite0 feature distance to the target ("effnet": LPIPS-style over its 5 feature
maps at 224 px, a judge that no variant optimises), latent error for (a) (mean L2 per W entry
between the recovered W/W+ code and the true W broadcast), and seconds per image. Prints a
table and writes JSON.

    python benchmarks/inversion.py [--generated 16] [--photos 10] [--steps 300] \
        [--methods w,w+,pti] [--perceptual ms-ssim,vgg16] [--perceptual-size 256]

``--perceptual`` lists the inversion loss's perceptual terms to compare (A/B); PTI uses the
same term for its pivot and its tuning. ``--tune-steps`` sets PTI's tuning steps (default:
``--steps``).

Targets: W+ with 300 steps <= 60 s per image and PSNR >= 24 dB on (a);
PTI identity cosine >= 0.9 on (b).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from stylelab import load_generator, z_from_seeds
from stylelab.faces import IdentityModel, align_face, load_image
from stylelab.images import from_pil
from stylelab.inversion import (
    InversionLoss,
    OptimizeConfig,
    PTIConfig,
    invert,
    invert_pti,
)
from stylelab.metrics import latent_error
from stylelab.perceptual import PerceptualDistance, load_backbone
from stylelab.pipelines.invert import example_photos

SIZE = 256


def generated_set(G, n: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, target (1,3,256,256), true w (1,512)) for seeds 100..100+n."""
    out = []
    for seed in range(100, 100 + n):
        with torch.no_grad():
            w = G.map(z_from_seeds([seed]), 0.7)
            out.append((f"seed{seed}", G.synthesis(w, size=SIZE), w))
    return out


def photo_set(n: int) -> list[tuple[str, torch.Tensor, None]]:
    photos = example_photos()[:n]
    return [(p.parent.parent.name, from_pil(align_face(load_image(p), size=SIZE).image), None)
            for p in photos]


def run(G, method: str, target: torch.Tensor, args, perceptual: str,
        identity_model: IdentityModel):
    identity = identity_model
    loss = InversionLoss(perceptual=perceptual, perceptual_size=args.perceptual_size)
    config = OptimizeConfig(space="w+" if method == "w+" else "w", steps=args.steps, size=SIZE,
                            loss=loss)
    start = time.perf_counter()
    if method == "pti":
        tune = PTIConfig(pivot=config, tune_steps=args.tune_steps or args.steps,
                         tune_loss=InversionLoss(perceptual=perceptual, delta=0.0,
                                                 perceptual_size=args.perceptual_size))
        result = invert_pti(G, target, tune, identity, progress=False)
    else:
        result = invert(G, target, config, identity, progress=False)
    return result, time.perf_counter() - start


def measure(G, method, perceptual, set_name, item, args, identity_model, judge) -> dict:
    name, target, w_true = item
    result, seconds = run(G, method, target, args, perceptual, identity_model)
    with torch.no_grad():
        effnet = float(judge(result.reconstruction.clamp(-1, 1), target.clamp(-1, 1)))
    row = {"method": method, "perceptual": perceptual, "set": set_name, "image": name,
           "seconds": seconds, "effnet": effnet,
           **{k: result.metrics[k] for k in ("psnr", "ms_ssim", "identity")}}
    if w_true is not None:
        row["latent_error"] = float(latent_error(result.latent, w_true))
    return row


def summarise(rows: list[dict]) -> dict:
    keys = ("psnr", "ms_ssim", "identity", "effnet", "latent_error", "seconds")
    return {k: statistics.mean(r[k] for r in rows) for k in keys if all(k in r for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description="inversion benchmark")
    ap.add_argument("--generated", type=int, default=16)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--methods", default="w,w+,pti")
    ap.add_argument("--perceptual", default="auto", help="comma list of InversionLoss kinds")
    ap.add_argument("--perceptual-size", type=int, default=None)
    ap.add_argument("--tune-steps", type=int, default=None)
    ap.add_argument("--json", default="benchmarks/results/inversion.json")
    args = ap.parse_args()
    G = load_generator("mobilestylegan-ffhq")
    identity_model = IdentityModel()
    judge = PerceptualDistance(load_backbone("efficientnet-lite0"), resize=224)
    sets = {"generated": generated_set(G, args.generated), "openpeople": photo_set(args.photos)}
    results: dict = {"steps": args.steps, "tune_steps": args.tune_steps or args.steps,
                     "methods": args.methods, "perceptual": args.perceptual,
                     "perceptual_size": args.perceptual_size, "size": SIZE,
                     "threads": torch.get_num_threads(), "judge": "effnet: LPIPS-style "
                     "distance over EfficientNet-Lite0 features at 224 px (lower is better)",
                     "per_image": [], "summary": {}}
    print(f"{'method':6} {'loss':8} {'set':11} {'n':>3} {'PSNR':>6} {'MS-SSIM':>8} {'id cos':>7} "
          f"{'effnet':>7} {'lat err':>8} {'s/img':>7}")
    for method in args.methods.split(","):
        for perceptual in args.perceptual.split(","):
            for set_name, items in sets.items():
                rows = [measure(G, method, perceptual, set_name, item, args, identity_model,
                                judge) for item in items]
                if not rows:
                    continue
                results["per_image"] += rows
                s = summarise(rows)
                results["summary"][f"{method}/{perceptual}/{set_name}"] = s | {"n": len(rows)}
                lat = f"{s['latent_error']:8.3f}" if "latent_error" in s else f"{'-':>8}"
                print(f"{method:6} {perceptual:8} {set_name:11} {len(rows):3d} {s['psnr']:6.2f} "
                      f"{s['ms_ssim']:8.4f} {s['identity']:7.3f} {s['effnet']:7.4f} {lat} "
                      f"{s['seconds']:7.1f}", flush=True)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2))  # after every set
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
