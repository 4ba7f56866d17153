"""Encoder inversion measured: speed, reconstruction, latent error and editability.

Sets: (a) ``--generated`` held-out generated faces with known w (seeds from 10_000_000, the
encoder training's held-out stream, truncation 0.7); (b) ``--photos`` openpeople portraits,
FFHQ-aligned with dlib (alignment time reported separately, not in the methods' seconds).

Methods, same run (``--methods``): each trained encoder's W and W+ (``e4e-w``, ``e4e-w+``,
``clcae-w``, ``clcae-w+``, ``clcae-w+f``, ``psp-w+``), every ablation variant found in
``<cache>/encoders/<model>/variants/`` (``variant:<name>-w`` / ``-w+`` / ``-w+f``; made by
``training/ablate_clcae.py``), the hybrid
"e4e W+ then N W+ steps" (``refine-N`` for N in ``--refine``), and the optimisers for
reference (``opt-w+`` with ``--reference-steps``, ``opt-pti``). The hybrid and ``opt-w+``
optimise the same loss (the default inversion loss with the dlib identity term).

Per method and set: seconds per face (``--threads``, default 2), PSNR, MS-SSIM, VGG16 distance
(the perceptual term the encoders trained with), EfficientNet-Lite0 distance (an independent
judge), dlib identity cosine, latent error on (a). Editability (``--edit``, default smile and
age): the shipped InterFaceGAN directions at ±2σ applied to the inverted latent; on (a) the
measured attribute change divided by the same edit's change on the true w (1.0 = as editable
as the true latent), on (b) the change per σ. Prints a table, writes JSON.

    python benchmarks/encoders.py [--generated 64] [--photos 10] [--refine 25,50,100] \
        [--methods e4e-w,e4e-w+,clcae-w,clcae-w+,clcae-w+f,refine,opt-w+,opt-pti]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from stylelab import load_generator, z_from_seeds
from stylelab.cache import cache_dir
from stylelab.directions.base import apply_edits
from stylelab.directions.measures import FaceMeasurer
from stylelab.encoders import EncoderUnavailable, load_encoder, load_encoder_file
from stylelab.faces import FaceAttributes, IdentityModel, align_face, load_image
from stylelab.images import from_pil
from stylelab.inversion import OptimizeConfig, PTIConfig, invert, invert_pti
from stylelab.inversion.encode import refine
from stylelab.metrics import latent_error, ms_ssim, psnr
from stylelab.perceptual import PerceptualDistance, load_backbone
from stylelab.pipelines.edit import EditPipeline
from stylelab.pipelines.invert import example_photos
from stylelab.plugins import load_plugins

SIZE = 256  # --size
HELD_OUT = 10_000_000
EDIT_MEASURE = {"smile": "smile", "age": "age", "mouth_open": "mouth_open", "yaw": "yaw"}


def set_size(size: int) -> None:
    global SIZE
    SIZE = size


def generated_set(G, n: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    seeds = list(range(HELD_OUT, HELD_OUT + n))
    with torch.no_grad():
        w = G.map(z_from_seeds(seeds, G.z_dim), 0.7)
        return [(f"seed{s}", G.synthesis(w[i:i + 1], size=SIZE).clamp(-1, 1), w[i:i + 1])
                for i, s in enumerate(seeds)]


def photo_set(n: int) -> tuple[list[tuple[str, torch.Tensor, None]], float]:
    start, out = time.perf_counter(), []
    for p in example_photos()[:n]:
        out.append((p.parent.parent.name, from_pil(align_face(load_image(p), size=SIZE).image),
                    None))
    return out, (time.perf_counter() - start) / max(1, len(out))


class Judge:
    """Every reconstruction measure of one image against its target."""

    def __init__(self) -> None:
        self.identity = IdentityModel()
        self.vgg = PerceptualDistance(load_backbone("vgg16"), resize=SIZE)
        self.effnet = PerceptualDistance(load_backbone("efficientnet-lite0"), resize=224)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        image = image.clamp(-1, 1)
        cos = torch.nn.functional.cosine_similarity(self.identity.embed(image),
                                                    self.identity.embed(target))
        return {"psnr": float(psnr(image, target)), "ms_ssim": float(ms_ssim(image, target)),
                "vgg16": float(self.vgg(image, target)), "effnet": float(self.effnet(image, target)),
                "identity": float(cos)}


def encoder_methods(G, methods: list[str]) -> dict[str, tuple]:
    """Method name -> (encoder, which output: "w" | "w+" | "w+f")."""
    out: dict[str, tuple] = {}
    for kind in ("psp", "e4e", "clcae"):
        wanted = [m for m in methods if m.startswith(kind + "-")]
        if not wanted:
            continue
        try:
            enc = load_encoder(f"{G.model_name}/{kind}", G)
        except EncoderUnavailable as e:
            print(f"skipping {', '.join(wanted)}: {e}")
            continue
        out |= {m: (enc, m.split("-", 1)[1]) for m in wanted}
    folder = cache_dir() / "encoders" / G.model_name / "variants"
    for path in sorted(folder.glob("*.safetensors")) if "variants" in methods else ():
        enc = load_encoder_file(path, G)
        out[f"variant:{path.stem}-w"] = (enc, "w")
        out[f"variant:{path.stem}-w+"] = (enc, "w+")
        if enc.config.use_f:
            out[f"variant:{path.stem}-w+f"] = (enc, "w+f")
    return out


def invert_one(G, method: str, spec, target: torch.Tensor, args) -> tuple:
    """(latent, F features or None, reconstruction, seconds) of one method on one target;
    PTI's latent is None (its pivot belongs to a tuned generator: no latent error or edits)."""
    start = time.perf_counter()
    if spec is not None:
        enc, which = spec
        out = enc.invert(target)
        latent = out.w if which == "w" else out.wplus
        features = out.f if which == "w+f" else None
        seconds = time.perf_counter() - start
        with torch.no_grad():
            return latent, features, G.synthesis(latent, size=SIZE, features_in=features), seconds
    if method.startswith("refine-"):
        config = OptimizeConfig(space="w+", steps=int(method.split("-")[1]), size=SIZE)
        result = refine(load_encoder(f"{G.model_name}/e4e", G), target, config, IdentityModel(),
                        progress=False)  # the same loss as opt-w+, its reference
    elif method == "opt-w+":
        config = OptimizeConfig(space="w+", steps=args.reference_steps, size=SIZE)
        result = invert(G, target, config, IdentityModel(), progress=False)
    elif method == "opt-pti":
        pivot = OptimizeConfig(space="w", steps=args.reference_steps, size=SIZE)
        result = invert_pti(G, target, PTIConfig(pivot=pivot), IdentityModel(), progress=False)
        return None, None, result.reconstruction, time.perf_counter() - start
    else:
        raise SystemExit(f"unknown method {method!r}")
    return result.latent, None, result.reconstruction, time.perf_counter() - start


def editability(G, pipe, measurer, latent, features, w_true, edits) -> dict[str, float]:
    """Measured change per edit at +2σ minus -2σ (ratio to the true w's when known)."""
    from stylelab.encoders import shift_features

    if latent is None:
        return {}
    out = {}
    latent = G.to_wplus(latent)
    for name in edits:
        measure = EDIT_MEASURE[name]
        images, truth = [], []
        for sign in (2.0, -2.0):
            edit = pipe.edits({f"interfacegan/{name}": sign})
            with torch.no_grad():
                moved = apply_edits(G, latent, edit)
                f = shift_features(G, features, latent, moved) if features else None
                images.append(G.synthesis(moved, size=SIZE, features_in=f))
                if w_true is not None:
                    truth.append(G.synthesis(apply_edits(G, w_true, edit), size=SIZE))
        m = measurer.measure(torch.cat(images), (measure,))[measure]
        change = float(m[0] - m[1])
        if w_true is not None:
            t = measurer.measure(torch.cat(truth), (measure,))[measure]
            out[f"edit_{name}"] = change / float(t[0] - t[1]) if t[0] != t[1] else float("nan")
        else:
            out[f"edit_{name}_per_sigma"] = change / 4.0
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--generated", type=int, default=64)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--methods", default="e4e-w,e4e-w+,clcae-w,clcae-w+,clcae-w+f,variants,"
                                         "refine,opt-w+,opt-pti")
    ap.add_argument("--refine", default="25,50,100")
    ap.add_argument("--reference-steps", type=int, default=300)
    ap.add_argument("--edit", default="smile,age", help="InterFaceGAN edits ('' for none)")
    ap.add_argument("--size", type=int, default=SIZE, help="inversion size")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/encoders.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    set_size(args.size)
    load_plugins()  # $STYLELAB_PLUGINS, as the CLI
    G = load_generator(args.model)
    methods = args.methods.split(",")
    if "refine" in methods:
        methods = [m for m in methods if m != "refine"] + [f"refine-{n}" for n in
                                                             args.refine.split(",")]
    specs = encoder_methods(G, methods)
    if any(m.startswith("refine-") for m in methods) and "e4e-w+" not in specs:
        try:
            load_encoder(f"{G.model_name}/e4e", G)
        except EncoderUnavailable as e:
            print(f"skipping the refine methods: {e}")
            methods = [m for m in methods if not m.startswith("refine-")]
    methods = [m for m in methods if m in specs or m.startswith(("refine-", "opt-"))]
    methods += [m for m in specs if m not in methods]
    judge, pipe = Judge(), EditPipeline(G)
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    edits = [e for e in args.edit.split(",") if e]
    photos, align_s = photo_set(args.photos)
    sets = {"generated": generated_set(G, args.generated), "openpeople": photos}
    results: dict = {"args": vars(args), "align_seconds_per_photo": align_s,
                     "threads": torch.get_num_threads(), "summary": {}, "per_image": []}
    print(f"{'method':22} {'set':10} {'n':>3} {'PSNR':>6} {'MS-SSIM':>7} {'VGG':>6} "
          f"{'effnet':>6} {'id':>5} {'lat':>6} {'s/face':>7}  edits")
    for method in methods:
        for set_name, items in sets.items():
            rows = []
            for name, target, w_true in items:
                latent, features, recon, seconds = invert_one(G, method, specs.get(method),
                                                              target, args)
                row = {"method": method, "set": set_name, "image": name, "seconds": seconds,
                       **judge(recon, target)}
                if w_true is not None and latent is not None:
                    row["latent_error"] = float(latent_error(latent, w_true))
                row |= editability(G, pipe, measurer, latent, features, w_true, edits)
                rows.append(row)
            if not rows:
                continue
            keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
            s = {k: statistics.fmean(v for r in rows if np.isfinite(v := r.get(k, np.nan)))
                 for k in keys if any(np.isfinite(r.get(k, np.nan)) for r in rows)}
            results["summary"][f"{method}/{set_name}"] = s | {"n": len(rows)}
            results["per_image"] += rows
            ed = " ".join(f"{k[5:]} {v:.2f}" for k, v in s.items() if k.startswith("edit_"))
            print(f"{method:22} {set_name:10} {len(rows):3d} {s['psnr']:6.2f} {s['ms_ssim']:7.4f} "
                  f"{s['vgg16']:6.3f} {s['effnet']:6.3f} {s['identity']:5.3f} "
                  f"{s.get('latent_error', float('nan')):6.3f} {s['seconds']:7.3f}  {ed}",
                  flush=True)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"alignment: {align_s:.2f} s per photo (not in the methods' seconds)")
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
