"""Do StyleCLIP's global directions pick the channels our StyleSpace detector finds?

For each prompt of ``benchmarks/styleclip_edits.py``: the global direction's channel scores
(Δi_c · Δt from the cached relevance of the generator and text-image model) against the
StyleSpace θ detector (Wu et al.: mean shift of each S channel over the faces with the
highest measure, in channel sigmas) computed on ``--faces`` labelled faces of the face set.
Printed per prompt: channels kept at β, overlap of the top-k channels of the two rankings
(chance: k²/S), the share of the overlapping channels whose signs agree (the global
direction should raise a channel where the attribute raises it), and where the channel the
shipped StyleSpace direction chose for that attribute ranks in the global direction.

    python benchmarks/styleclip_channels.py [--clip stylelab/faces-minilm] [--faces 4000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from styleclip_edits import NEUTRAL, PROMPTS  # the same prompts and measures

from stylelab import load_generator
from stylelab.clip import load_clip
from stylelab.datasets import load_faceset
from stylelab.directions import MeasuredSamples
from stylelab.directions.library import DirectionLibrary
from stylelab.directions.stylespace import attribute_channels
from stylelab.models.stylespace import channel_name, s_dim
from stylelab.styleclip import (
    global_direction,
    load_or_compute_relevance,
    text_direction,
)


def detector_scores(G, faces: int) -> dict[str, torch.Tensor]:
    """θ: ``(S,)`` per measure over the first ``faces`` face-set faces."""
    fs = load_faceset()
    index = np.arange(min(faces, len(fs)))
    sub = fs.subset(index)
    w = sub.latents(G).cpu().numpy()
    measures = {m for _, m, _ in PROMPTS.values()}
    samples = MeasuredSamples(w, {m: sub.labels[m].astype(np.float64) for m in measures}, index,
                              sub.psi)
    return {m: attribute_channels(G, samples, m) for m in sorted(measures)}


def compare(scores: torch.Tensor, theta: torch.Tensor, sign: int, ks: list[int]) -> dict:
    """Top-k overlap of |scores| and |θ|, and sign agreement on the overlap."""
    out = {}
    by_score = scores.abs().argsort(descending=True)
    by_theta = theta.abs().argsort(descending=True)
    for k in ks:
        common = sorted(set(by_score[:k].tolist()) & set(by_theta[:k].tolist()))
        agree = [float(np.sign(scores[c]) == np.sign(theta[c]) * sign) for c in common]
        out[f"top{k}"] = len(common)
        out[f"top{k}_chance"] = k * k / scores.numel()
        out[f"top{k}_signs_agree"] = float(np.mean(agree)) if agree else float("nan")
    out["rank_corr"] = float(np.corrcoef(scores.abs().numpy(), theta.abs().numpy())[0, 1])
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="stylelab/faces-minilm")
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--faces", type=int, default=4000, help="face-set faces for θ")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--ks", default="10,50")
    ap.add_argument("--json", default="benchmarks/results/styleclip_channels.json")
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    G = load_generator(args.model)
    clip = load_clip(args.clip)
    relevance = load_or_compute_relevance(G, clip)
    thetas = detector_scores(G, args.faces)
    shipped = DirectionLibrary(G).get("stylespace")
    chosen = dict(zip(shipped.names, shipped.metadata["channels"]))
    names = [channel_name(G, c) for c in range(s_dim(G))]
    rows = []
    print(f"{'prompt':13s} {'measure':12s} {'kept':>5s} " +
          " ".join(f"{'top' + str(k):>6s} {'chance':>6s} {'signs':>5s}" for k in ks) +
          f" {'corr':>5s} {'detector ch.':>14s} {'its rank':>8s}")
    for key, (prompt, measure, sign) in PROMPTS.items():
        direction = global_direction(relevance, text_direction(clip, prompt, NEUTRAL),
                                     args.beta)
        row = {"prompt": key, "measure": measure, "kept": direction.channels,
               **compare(direction.scores, thetas[measure], sign, ks)}
        if measure in chosen:
            order = direction.scores.abs().argsort(descending=True).tolist()
            c = names.index(chosen[measure])
            row["detector_channel"] = chosen[measure]
            row["detector_rank"] = order.index(c) + 1
        rows.append(row)
        cells = " ".join(f"{row[f'top{k}']:6d} {row[f'top{k}_chance']:6.2f} "
                         f"{row[f'top{k}_signs_agree']:5.2f}" for k in ks)
        print(f"{key:13s} {measure:12s} {row['kept']:5d} {cells} {row['rank_corr']:5.2f} "
              f"{row.get('detector_channel', '-'):>14s} {row.get('detector_rank', 0):8d}")
    result = {"clip": args.clip, "faces": args.faces, "beta": args.beta, "rows": rows,
              "channels": s_dim(G)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
