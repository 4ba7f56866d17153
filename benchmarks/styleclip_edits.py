"""StyleCLIP's three methods measured on a trained text-image model (default: the bundled
``stylelab/faces-minilm``; any ``load_clip`` name works, e.g. ``ViT-B/32`` online).

For each prompt and method setting, on ``--faces`` held-out faces (face-set seeds the face
text-image model never trained on): the intended measure's change (in its own units and in
z-units: divided by its spread over the unedited faces), the share of faces moved the right
way, dlib identity cosine (before vs after), attribute dependency (AD: mean |z-change| of all
the other measures), and seconds per face. For the mapper and the optimisation, the mean
pairwise cosine of the W+ residuals across faces (the paper: a mapper's edits for one prompt
point in similar directions).

Measures: dlib landmarks (smile, mouth_open, eye_openness, yaw) are independent of the
face-api.js nets that labelled the model's training captions; age, gender and the expression
probabilities come from those same nets (marked "labeller" in the table).

    python benchmarks/styleclip_edits.py [--clip stylelab/faces-minilm] [--faces 16] \
        [--methods global,optimize-w+,optimize-s,mapper] [--prompts smiling,old,...] \
        [--alphas 3,6] [--betas 0.05,0.1,0.2] [--max-channels 0] [--steps 40] [--mapper-steps 300]
        [--relevance FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stylelab import load_generator
from stylelab.clip import load_clip
from stylelab.directions.measures import LANDMARK_MEASURES, MEASURES, FaceMeasurer
from stylelab.faces import FaceAttributes, IdentityModel
from stylelab.latents import z_from_seeds
from stylelab.pipelines.textedit import TextEditPipeline
from stylelab.styleclip.relevance import Relevance

#: short name -> (target prompt, measure, expected sign of its change)
PROMPTS = {
    "smiling": ("a smiling face", "smile", 1),
    "not-smiling": ("a face that is not smiling", "smile", -1),
    "old": ("an old face", "age", 1),
    "young": ("a young face", "age", -1),
    "surprised": ("a surprised face", "surprised", 1),
    "angry": ("an angry face", "angry", 1),
    "eyes-closed": ("a face with closed eyes", "eye_openness", -1),
    "mouth-open": ("a face with an open mouth", "mouth_open", 1),
    "looking-left": ("a face looking to the left", "yaw", -1),  # the viewer's left: yaw < 0
    "woman": ("a woman", "gender", -1),  # gender: probability of male
    "man": ("a man", "gender", 1),
}
NEUTRAL = "a face"
FIRST_HELD_OUT_SEED = 18_000  # face-set seeds >= this are the facetext model's held-out faces


def settings(args) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for method in args.methods:
        if method == "global":
            out += [("global", {"alpha": a, "beta": b, "max_channels": m})
                    for a, b, m in itertools.product(args.alphas, args.betas, args.max_channels)]
        elif method.startswith("optimize-"):
            out.append(("optimize", {"space": method.split("-", 1)[1], "steps": args.steps}))
        elif method == "mapper":
            out.append(("mapper", {"steps": args.mapper_steps}))
        else:
            raise SystemExit(f"unknown method {method!r}")
    return out


def residual_cosine(latents: torch.Tensor, w: torch.Tensor) -> float:
    """Mean pairwise cosine of ``latents - w`` (W+ flattened) over the faces."""
    r = F.normalize((latents - w).flatten(1), dim=1)
    n = r.shape[0]
    if n < 2:
        return float("nan")
    sims = r @ r.T
    return float((sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def summarise(measure: str, sign: int, before: dict, after: dict, ident: np.ndarray,
              seconds: float, n: int) -> dict:
    spread = {m: np.nanstd(before[m]) or 1.0 for m in MEASURES}
    change = after[measure] - before[measure]
    others = [np.nanmean(np.abs(after[m] - before[m])) / spread[m] for m in MEASURES
              if m != measure]
    return {"change": float(np.nanmean(change)), "change_z": float(np.nanmean(change) /
                                                                   spread[measure] * sign),
            "right_way": float(np.nanmean(np.sign(change) == sign)),
            "identity": float(np.nanmean(ident)), "ad": float(np.nanmean(others)),
            "seconds_per_face": seconds / n, "labeller": measure not in LANDMARK_MEASURES}


def run_setting(pipe, method: str, kw: dict, prompt: str, w: torch.Tensor):
    """(before images, after images, W+ latents or None, seconds) over the faces."""
    befores, afters, latents = [], [], []
    start = time.perf_counter()
    for i in range(w.shape[0]):
        result = pipe.run(method, w[i:i + 1], prompt, NEUTRAL, alpha=kw.get("alpha", 4.0),
                          beta=kw.get("beta", 0.1), steps=kw.get("steps", 40),
                          space=kw.get("space", "w+"), max_channels=kw.get("max_channels", 0),
                          progress=False)
        befores.append(result.before)
        afters.append(result.image)
        if result.latent is not None:
            latents.append(result.latent)
        channels = result.metrics.get("channels")
    seconds = time.perf_counter() - start
    return (torch.cat(befores), torch.cat(afters),
            torch.cat(latents) if len(latents) == w.shape[0] else None, seconds, channels)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="stylelab/faces-minilm")
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--faces", type=int, default=16)
    ap.add_argument("--prompts", default=",".join(PROMPTS))
    ap.add_argument("--methods", default="global,optimize-w+,optimize-s,mapper")
    ap.add_argument("--alphas", default="3,6")
    ap.add_argument("--betas", default="0.05,0.1,0.2")
    ap.add_argument("--max-channels", default="0",
                    help="global: channel budgets (0: β alone, StyleCLIP's)")
    ap.add_argument("--steps", type=int, default=40, help="latent optimisation steps")
    ap.add_argument("--mapper-steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--relevance", default=None,
                    help="global: this relevance file instead of the cached or shipped one")
    ap.add_argument("--json", default="benchmarks/results/styleclip_edits.json")
    args = ap.parse_args(argv)
    args.methods = args.methods.split(",")
    args.alphas = [float(a) for a in args.alphas.split(",")]
    args.betas = [float(b) for b in args.betas.split(",")]
    args.max_channels = [int(m) for m in args.max_channels.split(",")]
    torch.set_num_threads(args.threads)
    G = load_generator(args.model)
    identity = IdentityModel()
    pipe = TextEditPipeline(G, load_clip(args.clip), identity=identity)
    if args.relevance:
        pipe.use_relevance(Relevance.load(args.relevance))
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    seeds = list(range(FIRST_HELD_OUT_SEED, FIRST_HELD_OUT_SEED + args.faces))
    with torch.no_grad():
        w = G.map(z_from_seeds(seeds, G.z_dim), 1.0)
    results: dict = {"clip": args.clip, "faces": seeds, "args": vars(args), "rows": []}
    print(f"{'prompt':13s} {'method':26s} {'Δ':>8s} {'Δz':>6s} {'right':>5s} {'id':>5s} "
          f"{'AD':>5s} {'s/face':>7s}")
    for key in args.prompts.split(","):
        prompt, measure, sign = PROMPTS[key]
        for method, kw in settings(args):
            before, after, latents, seconds, channels = run_setting(pipe, method, kw, prompt, w)
            m0, m1 = measurer.measure(before), measurer.measure(after)
            with torch.no_grad():
                ident = F.cosine_similarity(identity.embed(before), identity.embed(after)).numpy()
            row = summarise(measure, sign, m0, m1, ident, seconds, len(seeds))
            if latents is not None:
                row["residual_cosine"] = residual_cosine(latents, G.to_wplus(w))
            if channels is not None:
                row["channels"] = channels
            label = method + "".join(f" {k}={v}" for k, v in kw.items())
            results["rows"].append({"prompt": key, "text": prompt, "measure": measure,
                                    "method": label, **row})
            print(f"{key:13s} {label:26s} {row['change']:8.3f} {row['change_z']:6.2f} "
                  f"{row['right_way']:5.2f} {row['identity']:5.3f} {row['ad']:5.2f} "
                  f"{row['seconds_per_face']:7.2f}" + (" *" if row["labeller"] else ""))
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=1))
    print("* measured by the face-api.js nets that also labelled the training captions")
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
