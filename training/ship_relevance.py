"""Write the StyleCLIP channel relevance of a generator and text-image model into the package
assets, so global directions are instant on first use (the Text edit tab's default method).

    python training/ship_relevance.py [--model mobilestylegan-ffhq] \
        [--clip stylelab/faces-minilm] [--faces 32] [--threads 2]

Uses the cached relevance of the pair when there is one (``<cache>/styleclip/...``, e.g.
left by ``benchmarks/styleclip_edits.py`` or the hub), else computes it (32 faces x 256
vector-Jacobian products for faces-minilm: about 25 min on 2 threads; resumable: run the same
command again after an interruption). The asset records the
text model's weights digest: after retraining the model, run this again (a stale file is
ignored, and the relevance is computed on first use as before).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from stylelab import load_generator
from stylelab.clip import load_clip
from stylelab.styleclip import RelevanceConfig, load_or_compute_relevance
from stylelab.styleclip.relevance import (
    relevance_path,
    shipped_relevance_path,
)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--clip", default="stylelab/faces-minilm")
    ap.add_argument("--faces", type=int, default=RelevanceConfig.faces)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="default: the package assets")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    G, clip = load_generator(args.model), load_clip(args.clip)
    digest = getattr(clip, "weights_digest", None)
    if not digest:
        raise SystemExit(f"{clip.name} has no weights digest: only models with fixed, "
                         "checksummed weights can ship a relevance file")
    # the cached file when there is one (checked against these weights), else computed
    # (resumable: an interrupted run continues from its partial sum when run again)
    path = relevance_path(G, clip)
    if args.faces != RelevanceConfig.faces:  # not the hub's default: a cache file of its own
        path = path.with_name(f"{path.stem}-{args.faces}faces.safetensors")
    relevance = load_or_compute_relevance(G, clip, RelevanceConfig(faces=args.faces), path=path)
    out = Path(args.out) if args.out else shipped_relevance_path(G, clip)
    replace(relevance, clip_digest=digest).save(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; {relevance.config['faces']} faces, "
          f"{relevance.evaluations})")
    return out


if __name__ == "__main__":
    main()
