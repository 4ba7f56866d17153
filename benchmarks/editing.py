"""Editing directions side by side: how far each method moves its attribute, what it costs
in identity, and how much it moves the other attributes.

For every attribute and method, on held-out faces (seeds from 100000):

- ``per_unit``: change of the attribute measure, in its standard deviations over the
  labelled samples, per unit of slider strength (one latent sigma; for StyleSpace, one
  channel sigma), measured at a probe strength;
- ``strength``: the strength that moves the attribute by ``--target`` measure sigmas
  (from ``per_unit``, capped at the slider limit), and at that strength:
- ``achieved``: the measured change; ``identity``: dlib identity cosine to the unedited
  face; ``ad``: attribute dependency (mean |change| of the other measures, in sigmas).

Methods: InterFaceGAN (W normal), InterFaceGAN conditioned on the other attributes of the
table, mean difference and logistic regression on the same labelled samples, and the
detected StyleSpace channel.

    FACEAPI_WEIGHTS=../shared/weights/faceapi python benchmarks/editing.py [--faces 16]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from stylelab import load_generator, z_from_seeds
from stylelab.directions.base import apply_edits
from stylelab.directions.interfacegan import condition, split_classes
from stylelab.directions.library import DirectionLibrary
from stylelab.directions.measures import FaceMeasurer
from stylelab.directions.regression import logistic_direction, mean_difference
from stylelab.directions.stylespace import attribute_dependency
from stylelab.faces import FaceAttributes, IdentityModel

ATTRIBUTES = ("smile", "age", "gender", "yaw", "eye_openness", "mouth_open", "happy")
PROBE = {"w": 1.5, "s": 10.0}
LIMIT = {"w": 5.0, "s": 30.0}


def methods_for(attr: str, lib: DirectionLibrary, samples) -> dict:
    ifg = lib.get("interfacegan")
    others = [a for a in ("age", "gender", "smile", "yaw") if a != attr and a in ifg.names]
    scores = samples.measures[attr]
    pos, neg = split_classes(scores, 0.3, 20, attr)
    idx = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    out = {"interfacegan": (ifg, attr),
           "interfacegan|" + ",".join(others): (condition(ifg, attr, others), None),
           "mean-difference": (mean_difference(lib.G, samples.w[idx], labels, attr), attr),
           "logistic": (logistic_direction(lib.G, samples.w[idx], labels, attr), attr)}
    ss = lib.get("stylespace")
    if attr in ss.names:
        out["stylespace " + ss.metadata["channels"][ss.names.index(attr)]] = (ss, attr)
    return out


def render(G, w, direction, name, strength):
    name = name or direction.names[0]
    with torch.no_grad():
        return G.synthesis(apply_edits(G, w, [(direction, name, strength, None)]), size=256)


def main() -> None:
    ap = argparse.ArgumentParser(description="editing directions benchmark")
    ap.add_argument("--faces", type=int, default=16)
    ap.add_argument("--target", type=float, default=1.0, help="attribute change, in sigmas")
    ap.add_argument("--attributes", default=",".join(ATTRIBUTES))
    ap.add_argument("--json", default="benchmarks/results/editing.json")
    args = ap.parse_args()
    G = load_generator("mobilestylegan-ffhq")
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    lib = DirectionLibrary(G, measurer=measurer)
    samples = lib.measured()
    sigma = {k: float(np.nanstd(v)) for k, v in samples.measures.items()}
    identity = IdentityModel()
    w = G.map(z_from_seeds(range(100000, 100000 + args.faces)), 0.7)
    with torch.no_grad():
        base = G.synthesis(w, size=256)
        before = measurer.measure(base)
        base_id = identity.embed(base)
    rows = []
    print(f"{'attribute':13} {'method':44} {'per unit':>8} {'strength':>8} {'achieved':>8} "
          f"{'id cos':>6} {'AD':>5}")
    for attr in args.attributes.split(","):
        for method, (direction, name) in methods_for(attr, lib, samples).items():
            probe = PROBE[direction.space]
            per_unit = attribute_dependency(before, measurer.measure(
                render(G, w, direction, name, probe)), attr, sigma)["target_change"] / probe
            strength = float(np.clip(args.target / per_unit if per_unit else 0.0,
                                     -LIMIT[direction.space], LIMIT[direction.space]))
            edited = render(G, w, direction, name, strength)
            ad = attribute_dependency(before, measurer.measure(edited), attr, sigma)
            with torch.no_grad():
                id_cos = float(torch.nn.functional.cosine_similarity(
                    identity.embed(edited), base_id).mean())
            row = {"attribute": attr, "method": method, "per_unit": per_unit,
                   "strength": strength, "achieved": ad["target_change"], "identity": id_cos,
                   "ad": ad["ad"]}
            rows.append(row)
            print(f"{attr:13} {method[:44]:44} {per_unit:8.3f} {strength:8.2f} "
                  f"{row['achieved']:8.2f} {id_cos:6.3f} {row['ad']:5.2f}", flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"faces": args.faces, "target_sigmas": args.target,
                                           "rows": rows}, indent=1))
    print("wrote", args.json)


if __name__ == "__main__":
    main()
