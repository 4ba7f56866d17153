"""StyleGAN-NADA on attribute domains with a trained text-image model (default: the bundled
``stylelab/faces-minilm``; ``--clip ViT-B/32`` online).

For each domain (``--domains``: "a face" -> "an old face", ...) the generator is adapted
``--steps`` steps with NADA's directional loss and adaptive layer selection, then parent
and child render the same ``--faces`` held-out latents (face-set seeds 18000.., never seen
by the face text-image model, truncation ``--psi``). Measured, parent vs child, on the same
latent: the attribute's change (its own units and in z-units: over its spread among the 20,000
labelled faces of the face set), the share of faces moved the right way (the issue's "every
sample gets older"), the change of the other measures (AD, z-units), dlib identity,
diversity (pairwise
EfficientNet-Lite0 distance among children over that among parents) and wall / CPU time.
Age, gender and expression measures come from the face-api.js nets that also labelled the
text model's training captions (marked *); dlib landmark measures (smile, mouth, eyes, yaw)
are independent of them.

    python benchmarks/adaptation_text.py [--domains old,smiling] [--steps 100] [--faces 16]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from adaptation import diversity, render  # the filter benchmark's helpers

from stylelab import load_generator
from stylelab.adaptation import NADAConfig, adapt
from stylelab.clip import load_clip
from stylelab.datasets import load_faceset
from stylelab.directions.measures import LANDMARK_MEASURES, MEASURES, FaceMeasurer
from stylelab.faces import FaceAttributes, IdentityModel
from stylelab.latents import z_from_seeds
from stylelab.perceptual import PerceptualDistance

#: short name -> (source text, target text, measure, expected sign of its change)
DOMAINS = {
    "old": ("a face", "an old face", "age", 1),
    "young": ("a face", "a young face", "age", -1),
    "smiling": ("a face", "a smiling face", "smile", 1),
    "woman": ("a face", "a woman", "gender", -1),
}
FIRST_HELD_OUT_SEED = 18_000


def measure_domain(G, child, w, size, measure, sign, measurer, identity, effnet,
                   spread: dict[str, float]) -> dict:
    before, after = render(G, w, size), render(child, w, size)
    m0, m1 = measurer.measure(before), measurer.measure(after)
    change = m1[measure] - m0[measure]
    others = {m: float(np.nanmean(np.abs(m1[m] - m0[m]))) / spread[m] for m in MEASURES
              if m != measure}
    with torch.no_grad():
        ident = F.cosine_similarity(identity.embed(before), identity.embed(after))
    return {"before": float(np.nanmean(m0[measure])), "after": float(np.nanmean(m1[measure])),
            "change": float(np.nanmean(change)),
            "change_z": float(np.nanmean(change)) / spread[measure] * sign,
            "right_way": float(np.nanmean(np.sign(change) == sign)),
            "min_change": float(np.nanmin(change * sign)),
            "ad": float(np.mean(list(others.values()))), "others_z": others,
            "identity": float(ident.mean()),
            "diversity": diversity(effnet, after, 40) / max(diversity(effnet, before, 40), 1e-8),
            "labeller": measure not in LANDMARK_MEASURES}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="stylelab/faces-minilm")
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--domains", default="old,smiling")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--layers", type=int, default=8, help="NADA's adaptive layer count")
    ap.add_argument("--faces", type=int, default=16)
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", default=None, help="folder to save each child in")
    ap.add_argument("--children", default=None,
                    help="measure children saved by --save in this folder (no adapting)")
    ap.add_argument("--json", default="benchmarks/results/adaptation_text.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    G = load_generator(args.model)
    clip = load_clip(args.clip)
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    identity = IdentityModel()
    effnet = PerceptualDistance("efficientnet-lite0")
    seeds = list(range(FIRST_HELD_OUT_SEED, FIRST_HELD_OUT_SEED + args.faces))
    labels = load_faceset().labels  # z-units: spreads over the 20,000 labelled faces
    spread = {m: float(np.nanstd(labels[m])) or 1.0 for m in MEASURES}
    with torch.no_grad():
        w = G.map(z_from_seeds(seeds, G.z_dim), args.psi)
    results: dict = {"clip": args.clip, "faces": seeds, "args": vars(args), "rows": []}
    print(f"{'domain':9s} {'steps':>5s} {'before':>7s} {'after':>7s} {'Δz':>6s} {'right':>5s} "
          f"{'worst':>7s} {'AD':>5s} {'id':>5s} {'div':>5s} {'wall/cpu s':>11s}")
    for key in args.domains.split(","):
        source, target, measure, sign = DOMAINS[key]
        start, cpu = time.perf_counter(), time.process_time()
        if args.children:
            child = load_generator(str(Path(args.children) / f"nada-{key}"))
            info = json.loads((Path(args.children) / f"nada-{key}" / "adapted.json").read_text())
            wall, cpu = info["seconds"], info["cpu_seconds"]
            final, steps = info["history"][-1].get("directional"), info["steps"]
        else:
            result = adapt(G, "nada", source_text=source, target_text=target, clip=clip,
                           config=NADAConfig(steps=args.steps, layers=args.layers),
                           name=f"nada-{key}", progress=True)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if args.save:
                result.save(Path(args.save) / f"nada-{key}")
            child, final = result.generator, result.history[-1].get("directional")
            steps = result.steps
        row = {"domain": key, "source": source, "target": target, "measure": measure,
               "steps": steps, "wall_s": wall, "cpu_s": cpu,
               "final_loss": final,
               **measure_domain(G, child, w, args.size, measure, sign, measurer, identity,
                                effnet, spread)}
        results["rows"].append(row)
        print(f"{key:9s} {steps:5d} {row['before']:7.3f} {row['after']:7.3f} "
              f"{row['change_z']:6.2f} {row['right_way']:5.2f} {row['min_change']:7.3f} "
              f"{row['ad']:5.2f} {row['identity']:5.3f} {row['diversity']:5.2f} "
              f"{wall:5.0f}/{cpu:5.0f}" + (" *" if row["labeller"] else ""))
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    print("* measured by the face-api.js nets that also labelled the text model's captions; "
          "worst: the smallest change in the intended direction over the faces")
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
