"""Domain adaptation against known answers: target domains made by image filters.

For each filter f (``--filters``, mild to far) the single reference is ``f(G_s(w_ref))`` (seed
``--ref-seed``, truncation 0.7); a perfect child satisfies ``G_t(w) = f(G_s(w))``. Each method
(``--methods``: difa, jojo, nada, DiFa's ablations difa-nostyle, difa-noscc, difa-reach
(with our reach term), difa-momentum / difa-momentum-lr4 (Adam β1 0.9, and 4x the lr),
jojo-affines, which also trains the style affines, and jojo-colour, JoJoGAN's "preserve
colour" mixing) adapts ``--steps`` steps; the reference is inverted like a user's would be
(our e4e encoder when trained, refined by W+ optimisation; ``--oracle``: its true latent, to
tell the inversion's error from the method's). NADA uses
:class:`~stylelab.testing.clip.FilterClip`, a constructed text-image model whose "photo" ->
"<filter>" direction is the filter's.

Measured over ``--faces`` held-out latents (seeds 50000.., truncation 0.7), by measures no
method optimised (the losses use VGG16 statistics / tokens and VGG16 feature maps):

- fidelity: distance to the right answer f(G_s(w)), as the fraction of the unadapted gap
  closed, ``1 - d(G_t(w), f(G_s(w))) / d(G_s(w), f(G_s(w)))``, for four distances: pixels
  (L1 of 64 px downsamples: colour and layout), colour (mean and spread of the YUV chroma,
  brightness left out: :func:`~stylelab.adaptation.filters.chroma_distance`), and the
  LPIPS-style (uncalibrated) distances of EfficientNet-Lite0 and of VGG16 (VGG16 is close
  to what DiFa and JoJoGAN optimise, against the reference rather than the right answer);
- structure: dlib landmark distance G_s(w) vs G_t(w) over the inter-ocular distance (faces
  where dlib finds both; the count is reported) and the dlib identity cosine;
- diversity: mean pairwise EfficientNet distance among G_t samples over that among G_s
  samples (mode collapse < 1), and FD-EffNet(G_t, f(G_s)) beside FD-EffNet(G_s, f(G_s));
- time: wall and CPU seconds of the adaptation.

    python benchmarks/adaptation.py [--filters sepia,cartoon,sketch,oil,canvas]
        [--methods difa,jojo,nada] [--steps 100] [--faces 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stylelab import load_generator
from stylelab.adaptation import (
    DiFaConfig,
    JoJoConfig,
    NADAConfig,
    adapt,
    apply_filter,
    load_embedder,
)
from stylelab.adaptation.filters import chroma_distance
from stylelab.adaptation.jojo import reference_latent
from stylelab.perceptual import PerceptualDistance, frechet_distance, load_backbone

METHODS = {
    "difa": ("difa", {}),
    "difa-nostyle": ("difa", {"style_weight": 0.0}),
    "difa-noscc": ("difa", {"consistency_weight": 0.0}),
    "difa-reach": ("difa", {"reach_weight": 1.0}),  # ours: move as far as the reference did
    # the optimiser: Adam with momentum (β1 0.9) in place of the paper's β1 = 0, and 4x its lr
    "difa-momentum": ("difa", {"betas": (0.9, 0.99)}),
    "difa-momentum-lr4": ("difa", {"betas": (0.9, 0.99), "lr": 0.0064}),
    "jojo": ("jojo", {}),
    "jojo-affines": ("jojo", {"train_affines": True}),  # for StyleAlign's "what changes"
    "jojo-colour": ("jojo", {"preserve_colour": True}),  # JoJoGAN's colour-preserving mix
    "nada": ("nada", {}),
}
CONFIGS = {"difa": DiFaConfig, "jojo": JoJoConfig, "nada": NADAConfig}


def render(G, w, size, batch=8):
    with torch.no_grad():
        return torch.cat([G.synthesis(w[i:i + batch], size=size).clamp(-1, 1)
                          for i in range(0, len(w), batch)])


def pixel_distance(a, b):
    return (F.interpolate(a, size=64, mode="area") - F.interpolate(b, size=64, mode="area")
            ).abs().mean(dim=(1, 2, 3))


def landmarks(detector, images):
    from stylelab.images import to_pil

    out = []
    for image in to_pil(images):
        try:
            face, _ = detector.largest_face(image)
            out.append(face.landmarks)
        except Exception:  # noqa: BLE001 - no face in this domain: not counted
            out.append(None)
    return out


def structure(detector, identity, source, child):
    a, b = landmarks(detector, source), landmarks(detector, child)
    dists = []
    for la, lb in zip(a, b):
        if la is None or lb is None:
            continue
        eyes = np.linalg.norm(la[36:42].mean(0) - la[42:48].mean(0))
        dists.append(float(np.linalg.norm(la - lb, axis=1).mean() / eyes))
    with torch.no_grad():
        cos = F.cosine_similarity(identity.embed(source), identity.embed(child))
    return {"landmark_dist": float(np.mean(dists)) if dists else None,
            "landmark_faces": len(dists), "identity": float(cos.mean())}


def diversity(dist, images, pairs=24):
    idx = list(itertools.combinations(range(len(images)), 2))[:pairs]
    a = torch.stack([images[i] for i, _ in idx])
    b = torch.stack([images[j] for _, j in idx])
    with torch.no_grad():
        return float(dist(a, b).mean())


def measure(G, child, filt, w, size, judges, detector, identity, effnet):
    source = render(G, w, size)
    target = apply_filter(filt, source)
    out = render(child, w, size)
    row = {}
    for name, fn in judges.items():
        with torch.no_grad():
            base, now = float(fn(source, target).mean()), float(fn(out, target).mean())
        row[f"{name}_base"], row[f"{name}_child"] = base, now
        row[f"{name}_closed"] = 1 - now / max(base, 1e-8)
    row.update(structure(detector, identity, source, out))
    row["diversity"] = diversity(judges["effnet"], out) / max(
        diversity(judges["effnet"], source), 1e-8)
    with torch.no_grad():
        fe = [effnet.embed(x).numpy() for x in (out, target, source)]
    row["fd_child"] = frechet_distance(fe[0], fe[1])
    row["fd_base"] = frechet_distance(fe[2], fe[1])
    return row


def loss_terms(history, window=10):
    """Each loss term's mean over the first and the last ``window`` steps: which term moved."""
    first, last = history[:window], history[-window:]
    return {k: [float(np.mean([r[k] for r in first])), float(np.mean([r[k] for r in last]))]
            for k in history[0] if k != "step"}


def save_grid(G, child, filt, w, size, path, reference):
    from stylelab.images import to_pil

    source = render(G, w, size)
    rows = [torch.cat([reference, source]), torch.cat([reference, apply_filter(filt, source)]),
            torch.cat([reference, render(child, w, size)])]
    grid = torch.cat([torch.cat(list(r), 2) for r in rows], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(F.interpolate(grid[None], scale_factor=0.5, mode="area"))[0].save(path)


def run_one(G, method_key, filt, args, reference, latent, embedder, vgg):
    method, overrides = METHODS[method_key]
    config = CONFIGS[method](steps=args.steps, **overrides)
    kwargs = {}
    if method == "difa":
        kwargs = {"reference": reference, "embedder": embedder, "latent": latent}
    elif method == "jojo":
        kwargs = {"reference": reference, "latent": latent, "backbone": vgg}
    else:
        from stylelab.testing.clip import FilterClip

        kwargs = {"clip": FilterClip(G, filt, load_backbone("efficientnet-lite0")),
                  "source_text": "photo", "target_text": filt}
    result = adapt(G, method, config=config, progress=False, **kwargs)
    return result


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--filters", default="sepia,cartoon,sketch,oil,canvas")
    ap.add_argument("--methods", default="difa,jojo,nada")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--faces", type=int, default=32)
    ap.add_argument("--ref-seed", type=int, default=1000)
    ap.add_argument("--inversion-steps", type=int, default=100)
    ap.add_argument("--oracle", action="store_true",
                    help="use the reference's true latent w_ref instead of inverting it (a "
                         "diagnostic: what the method does with a perfect inversion)")
    ap.add_argument("--embed", default="vgg16", help="DiFa's image embedding")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/adaptation.json")
    ap.add_argument("--save", default=None,
                    help="folder to save each child in (<filter>-<method>), e.g. for the "
                         "aligned-model analyses")
    ap.add_argument("--grids", default=None,
                    help="folder for a PNG per run: parent / right answer / child, 4 faces")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from stylelab.faces import FaceDetector, IdentityModel

    G = load_generator(args.model)
    size = min(G.sizes, key=lambda s: abs(s - 256))
    effnet = load_backbone("efficientnet-lite0")
    judges = {"pixels": pixel_distance, "colour": chroma_distance,
              "effnet": PerceptualDistance(effnet), "vgg16": PerceptualDistance("vgg16")}
    detector, identity = FaceDetector(), IdentityModel()
    embedder, vgg = load_embedder(args.embed), load_backbone("vgg16")
    w_eval = G.sample_w(args.faces, seed=50_000, truncation_psi=0.7)
    rows = []
    for filt in args.filters.split(","):
        w_ref = G.sample_w(1, seed=args.ref_seed, truncation_psi=0.7)
        reference = apply_filter(filt, render(G, w_ref, size))
        t0 = time.perf_counter()
        latent = (G.to_wplus(w_ref) if args.oracle else
                  reference_latent(G, reference, args.inversion_steps, progress=False))
        inversion_s = time.perf_counter() - t0
        for key in args.methods.split(","):
            start, cpu = time.perf_counter(), time.process_time()
            result = run_one(G, key, filt, args, reference, latent, embedder, vgg)
            row = {"filter": filt, "method": key, "steps": result.steps, "oracle": args.oracle,
                   "seconds": time.perf_counter() - start + (inversion_s if key != "nada" else 0),
                   "cpu_seconds": time.process_time() - cpu,
                   "final_loss": result.history[-1]["total"],
                   "loss_terms": loss_terms(result.history),
                   "consistency": result.config.get("consistency")}
            row.update(measure(G, result.generator, filt, w_eval, size, judges, detector,
                               identity, effnet))
            rows.append(row)
            if args.save:
                result.save(Path(args.save) / f"{filt}-{key}")
            if args.grids:
                save_grid(G, result.generator, filt, w_eval[:4], size,
                          Path(args.grids) / f"{filt}-{key}.png", reference)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)
            write(args, rows)  # after every run: a long benchmark stopped early keeps its rows
    print(f"{'filter':8} {'method':13} {'pixels':>6} {'colour':>6} {'effnet':>6} {'vgg16':>6} "
          f"{'lmk':>6} {'id':>6} {'div':>5} {'FD t/base':>13} {'s':>6}   (fraction closed)")
    for r in rows:
        lmk = f"{r['landmark_dist']:.3f}" if r["landmark_dist"] is not None else "  -  "
        print(f"{r['filter']:8} {r['method']:13} {r['pixels_closed']:6.2f} "
              f"{r['colour_closed']:6.2f} {r['effnet_closed']:6.2f} {r['vgg16_closed']:6.2f} "
              f"{lmk:>6} {r['identity']:6.3f} {r['diversity']:5.2f} "
              f"{r['fd_child']:6.1f}/{r['fd_base']:6.1f} {r['seconds']:6.0f}")
    return write(args, rows)


def write(args, rows) -> dict:
    result = {"args": vars(args), "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
