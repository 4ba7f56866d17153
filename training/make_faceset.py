"""Render and label a synthetic face set (seeds, W, landmarks, labels) in resumable shards.

    FACEAPI_WEIGHTS=../shared/weights/faceapi python training/make_faceset.py \\
        --n 20000 [--first-seed 0] [--psi 1.0] [--size 256] [--out DIR] [--threads 1]

Shards go to ``DIR`` (default ``<stylelab cache>/faceset/<model>-psi<psi>``); rerunning the
same command skips finished shards. Then:

    python training/make_faceset.py --export stylelab/assets/faceset/<name>.safetensors
    python training/make_faceset.py --preview 30 --preview-out /tmp/faceset_preview.png

``--export`` merges the shards into the small file that ships (seeds + fp16 labels);
``--preview`` renders the first faces beside swatches of their measured skin, hair and
background colours and their main labels, to check the pixel measures by eye.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from stylelab import load_generator
from stylelab.cache import cache_dir
from stylelab.datasets.faceset import FaceSet, FaceSetConfig, build_faceset
from stylelab.directions.measures import FaceMeasurer
from stylelab.faces import FaceAttributes
from stylelab.images import to_uint8


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--shard-size", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", help="shard folder (default: in the stylelab cache)")
    ap.add_argument("--export", metavar="FILE", help="merge the shards into FILE and stop")
    ap.add_argument("--preview", type=int, metavar="N", help="draw N faces with labels and stop")
    ap.add_argument("--preview-out", default="faceset_preview.png")
    return ap.parse_args()


def preview(fs: FaceSet, G, n: int, out: str) -> None:
    """A contact sheet: each face, its three colour swatches and age/gender/smile/yaw."""
    cell, sw = 128, 24
    cols = 6
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell, rows * (cell + 40)), "white")
    draw = ImageDraw.Draw(sheet)
    images = to_uint8(fs.render(G, list(range(n)), size=256))
    for i in range(n):
        x, y = (i % cols) * cell, (i // cols) * (cell + 40)
        sheet.paste(Image.fromarray(images[i]).resize((cell, cell)), (x, y))
        lab = {k: float(v[i]) for k, v in fs.labels.items()}
        for j, region in enumerate(("skin", "hair", "background")):
            rgb = [lab[f"{region}_{c}"] for c in "rgb"]
            fill = (200, 0, 200) if np.isnan(rgb).any() else tuple(int(255 * c) for c in rgb)
            draw.rectangle([x + j * sw, y + cell, x + (j + 1) * sw - 2, y + cell + 14], fill=fill)
        draw.text((x + 2, y + cell + 16), f"{fs.seeds[i]} a{lab['age']:.0f} m{lab['gender']:.2f}",
                  fill="black")
        draw.text((x + 2, y + cell + 27), f"s{lab['smile']:.2f} y{lab['yaw']:.0f}",
                  fill="black")
    sheet.save(out)
    print("wrote", out)


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    out = Path(args.out or cache_dir() / "faceset" / f"{args.model}-psi{args.psi:g}")
    if args.export:
        fs = FaceSet.load(out)
        cpu = float(fs.meta.get("cpu_seconds", "nan"))
        info = {"command": f"FACEAPI_WEIGHTS=../shared/weights/faceapi python "
                           f"training/make_faceset.py --n {len(fs)} --first-seed "
                           f"{int(fs.seeds[0])} --psi {args.psi:g} --size {args.size}",
                "seeds": f"{int(fs.seeds[0])}..{int(fs.seeds[-1])}",
                "cpu_seconds_per_1000_faces": round(cpu / len(fs) * 1000, 1),
                "w": "not stored: G.map(z_from_seeds(seeds), psi) (FaceSet.latents)"}
        path = fs.export(args.export, info)
        print(f"exported {len(fs)} faces ({len(fs.columns)} columns, "
              f"{path.stat().st_size / 1e6:.2f} MB) to {path}; labelling CPU "
              f"{float(fs.meta.get('cpu_seconds', 'nan')):.0f} s")
        return
    G = load_generator(args.model, device=args.device)
    if args.preview:
        preview(FaceSet.load(out), G, args.preview, args.preview_out)
        return
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    config = FaceSetConfig(model=args.model, psi=args.psi, size=args.size,
                           first_seed=args.first_seed, shard_size=args.shard_size,
                           batch_size=args.batch_size)
    t0, c0 = time.time(), time.process_time()
    paths = build_faceset(G, out, args.n, measurer, config)
    fs = FaceSet.load(out)
    found = float(np.nanmean(fs.labels["face_found"]))
    print(f"{len(paths)} shards, {len(fs)} faces in {out} (face found in {found:.1%}); "
          f"this run: {time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU; "
          f"all shards: {float(fs.meta.get('cpu_seconds', 'nan')):.0f} s CPU")


if __name__ == "__main__":
    main()
