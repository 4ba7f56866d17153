"""Precompute the direction sets shipped for mobilestylegan-ffhq (run once, offline).

    FACEAPI_WEIGHTS=../shared/weights/faceapi python training/compute_directions.py \
        [--samples 3000] [--out stylelab/assets/directions/mobilestylegan-ffhq]

Writes interfacegan, ganspace, stylespace (detected channels) and localisation files.
Labelled samples are cached in the stylelab cache, so reruns skip the labelling.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from stylelab import load_generator
from stylelab.directions.detect import detect_attribute_channels
from stylelab.directions.ganspace import GANSpaceConfig, ganspace
from stylelab.directions.interfacegan import interfacegan
from stylelab.directions.library import SUPERVISED, DirectionLibrary
from stylelab.directions.measures import FaceMeasurer
from stylelab.directions.stylespace import REGIONS, localise_channels
from stylelab.faces import FaceAttributes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--localise-faces", type=int, default=16)
    ap.add_argument("--out", default="stylelab/assets/directions/mobilestylegan-ffhq")
    args = ap.parse_args()
    out = Path(args.out)
    G = load_generator(args.model)
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    lib = DirectionLibrary(G, samples=args.samples, measurer=measurer)
    samples = lib.measured()
    ifg = interfacegan(G, samples, list(SUPERVISED))
    ifg.save(out / "interfacegan")
    for name in ifg.names:
        info = ifg.metadata["boundaries"][name]
        print(f"interfacegan {name:14s} val acc {info['val_accuracy']:.3f}")
    ganspace(G, GANSpaceConfig()).save(out / "ganspace")
    detected = detect_attribute_channels(G, samples, measurer)
    detected.save(out / "stylespace")
    for attr, rows in detected.metadata["verification"].items():
        best = max(rows, key=lambda r: r["target_change"] - r["ad"])
        print(f"stylespace {attr:14s} {best['channel']:14s} change {best['target_change']:.2f} "
              f"AD {best['ad']:.2f}")
    w = torch.as_tensor(samples.w[:args.localise_faces])
    landmarks = measurer.landmarks(G.synthesis(w, size=256))
    keep = [i for i, lm in enumerate(landmarks) if lm is not None]
    loc = localise_channels(G, w[keep], [landmarks[i] for i in keep])
    save_file({"energy": loc.energy, "area": loc.area}, str(out / "localisation.safetensors"))
    (out / "localisation.txt").write_text(" ".join(REGIONS) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
