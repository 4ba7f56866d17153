"""Inversion quality and speed at 256px on CPU: W, W+ and PTI on two test sets.

(a) generated faces with known latents (seeds 100..), so the latent error is measurable;
(b) openpeople portraits (PyPI ``openpeople``, MIT), FFHQ-aligned with dlib.

Per method and set: PSNR, MS-SSIM, identity cosine (dlib ResNet), latent error for (a)
(mean L2 per W entry between the recovered W/W+ code and the true W broadcast), and
seconds per image. Prints a table and writes JSON.

    python benchmarks/inversion.py [--generated 16] [--photos 10] [--steps 300]

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
from stylelab.inversion import OptimizeConfig, PTIConfig, invert, invert_pti
from stylelab.metrics import latent_error
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


def run(G, method: str, target: torch.Tensor, steps: int, identity_model: IdentityModel):
    identity = identity_model
    config = OptimizeConfig(space="w+" if method == "w+" else "w", steps=steps, size=SIZE)
    start = time.perf_counter()
    if method == "pti":
        result = invert_pti(G, target, PTIConfig(pivot=config, tune_steps=steps), identity,
                            progress=False)
    else:
        result = invert(G, target, config, identity, progress=False)
    return result, time.perf_counter() - start


def summarise(rows: list[dict]) -> dict:
    keys = ("psnr", "ms_ssim", "identity", "latent_error", "seconds")
    return {k: statistics.mean(r[k] for r in rows) for k in keys if all(k in r for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description="inversion benchmark")
    ap.add_argument("--generated", type=int, default=16)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--methods", default="w,w+,pti")
    ap.add_argument("--json", default="benchmarks/results/inversion.json")
    args = ap.parse_args()
    G = load_generator("mobilestylegan-ffhq")
    identity_model = IdentityModel()
    sets = {"generated": generated_set(G, args.generated), "openpeople": photo_set(args.photos)}
    results: dict = {"steps": args.steps, "methods": args.methods, "size": SIZE, "threads": torch.get_num_threads(),
                     "per_image": [], "summary": {}}
    print(f"{'method':6} {'set':11} {'n':>3} {'PSNR':>6} {'MS-SSIM':>8} {'id cos':>7} "
          f"{'lat err':>8} {'s/img':>7}")
    for method in args.methods.split(","):
        for set_name, items in sets.items():
            if not items:
                continue
            rows = []
            for name, target, w_true in items:
                result, seconds = run(G, method, target, args.steps, identity_model)
                row = {"method": method, "set": set_name, "image": name, "seconds": seconds,
                       **{k: result.metrics[k] for k in ("psnr", "ms_ssim", "identity")}}
                if w_true is not None:
                    row["latent_error"] = float(latent_error(result.latent, w_true))
                rows.append(row)
            results["per_image"] += rows
            s = summarise(rows)
            results["summary"][f"{method}/{set_name}"] = s | {"n": len(rows)}
            lat = f"{s['latent_error']:8.3f}" if "latent_error" in s else f"{'-':>8}"
            print(f"{method:6} {set_name:11} {len(rows):3d} {s['psnr']:6.2f} {s['ms_ssim']:8.4f} "
                  f"{s['identity']:7.3f} {lat} {s['seconds']:7.1f}", flush=True)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2))  # after every set
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
