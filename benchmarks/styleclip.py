"""Channel relevance for StyleCLIP global directions: ours against StyleCLIP's definition.

StyleCLIP perturbs every StyleSpace channel by ±5σ on every face (2 x 7136 x faces generator
passes). Ours gets all channels of a face from one forward pass and ``k`` vector-Jacobian
products (see stylelab/styleclip/relevance.py). For each text-image model this benchmark runs
ours over all channels and the finite-difference definition on a random subset of channels,
on the same faces, and reports generator passes, seconds (the naive cost for all channels is
extrapolated from the subset), and the per-channel cosine between the two Δi.

No CLIP weights are reachable offline, so the models are:
- ``face-measures``: face-api.js expression/age/gender nets (trained CNNs) + 8 pixel
  read-outs (stylelab.testing.clip.FaceMeasureClip), D = 12;
- ``random-vit-b32``: the ViT-B/32 CLIP architecture with random weights (transformers),
  D = 512: the real cost, but not a trained network's smoothness;
- any ``load_clip`` name (e.g. ``ViT-B/32`` online).

    python benchmarks/styleclip.py [--models face-measures,random-vit-b32] [--faces 4]
        [--channels 24] [--rank 512] [--fd-sigmas 5,1] [--json ...]
    python benchmarks/styleclip.py --models stylelab/faces-minilm --shipped | --relevance FILE

``--shipped`` / ``--relevance`` measure an existing relevance (the package's, or a file) on
its own faces; the finite differences then also report their split-half agreement (the
definition's own face-sampling noise) and how each step agrees with the first over the
first n faces and, estimated, with many faces.

The finite differences follow StyleCLIP's reference code by default (``--fd-centre mean``:
the channel is set to its mean over samples, then rendered at ``μ_c ± 5σ_c`` on every face);
``--fd-centre face`` steps from each face's own value, as the paper's formula reads.

The finite differences are the slow part (2 x channels x faces generator passes per step).
``--diffs-cache DIR`` keeps them (per model, faces, channels and step), and ``--fd-only``
computes them for a relevance config of ``--faces`` faces without any relevance, so they
can run while that relevance is still being computed:

    python benchmarks/styleclip.py --models stylelab/faces-minilm --faces 128 --fd-only \
        --diffs-cache DIR
    python benchmarks/styleclip.py --models stylelab/faces-minilm --relevance FILE \
        --diffs-cache DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from stylelab import load_generator
from stylelab.models.stylespace import s_dim, style_mean_std
from stylelab.styleclip.relevance import (
    Relevance,
    RelevanceConfig,
    channel_relevance,
    load_or_compute_relevance,
    naive_differences,
    seeded_styles,
)

STABLE_SPLIT = 0.5  # split-half cosine of a channel's finite differences: "well estimated"


def make_model(name: str):
    if name == "face-measures":
        from stylelab.faces.faceapi import FaceAttributes
        from stylelab.testing.clip import FaceMeasureClip

        root = Path(__file__).resolve().parents[2] / "shared" / "weights" / "faceapi"
        return FaceMeasureClip(FaceAttributes(root if root.is_dir() else None), distractors=8)
    if name == "random-vit-b32":
        from transformers import CLIPConfig, CLIPModel

        from stylelab.clip.hf import TransformersClipModel

        torch.manual_seed(0)
        return TransformersClipModel(CLIPModel(CLIPConfig()), None, "random-vit-b32")
    from stylelab.clip import load_clip

    return load_clip(name)


def agreement(ours: torch.Tensor, naive: torch.Tensor, keep: torch.Tensor | None = None
              ) -> dict:
    """Per-channel cosine of two ``(C, D)`` unit Δi, over the channels that have an effect
    (and are in the ``keep`` mask, when given)."""
    alive = naive.norm(dim=1) > 0.5  # channels that change nothing have no direction
    if keep is not None:
        alive &= keep
    cos = (ours[alive] * naive[alive]).sum(1).tolist()
    if not cos:
        return {"channels": 0}
    return {"channels": len(cos), "mean": statistics.mean(cos), "median": statistics.median(cos),
            "min": min(cos), "at_least_0.95": sum(c >= 0.95 for c in cos) / len(cos)}


def our_relevance(G, clip, args, std: torch.Tensor):
    """(relevance, seconds): computed here on ``--faces``; or, not timed here, the
    ``--relevance`` file, or with ``--shipped`` the one the package ships (or the cache
    holds) for this model."""
    if args.relevance:  # a relevance file (e.g. one made with more faces)
        relevance = Relevance.load(args.relevance)
        relevance.check(G, clip)
        return relevance, None
    if args.shipped:
        return load_or_compute_relevance(G, clip, progress=False), None
    config = RelevanceConfig(faces=args.faces, rank=min(args.rank, clip.embed_dim),
                             chunk=args.chunk)
    start = time.perf_counter()
    ours = channel_relevance(G, clip, config, std=std, progress=False)
    return ours, time.perf_counter() - start


def cached_differences(G, clip, name: str, channels: list[int], flats: torch.Tensor,
                       std: torch.Tensor, cfg: dict, sigmas: float, cache: str | None,
                       mean: torch.Tensor | None) -> tuple[torch.Tensor, float | None]:
    """``naive_differences`` (and its seconds; None when read from ``cache``), kept in
    ``cache`` under a key of everything they depend on."""
    key = json.dumps([name, G.model_name, cfg["faces"], cfg["psi"], cfg["seed"], cfg["size"],
                      channels, sigmas] + (["mean"] if mean is not None else []))
    path = Path(cache or ".") / f"fd-{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"
    if cache and path.is_file():
        return load_file(path)["diffs"], None
    start = time.perf_counter()
    diffs = naive_differences(G, clip, channels, flats, std, size=cfg["size"], sigmas=sigmas,
                              mean=mean)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"diffs": diffs.contiguous()}, path, metadata={"key": key})
    return diffs, time.perf_counter() - start


def unit_mean(diffs: torch.Tensor) -> torch.Tensor:
    """``(C, N, D)`` per-face unit differences -> ``(C, D)`` unit Δi (StyleCLIP's average)."""
    return F.normalize(diffs.mean(1), dim=1).float()


def first_faces(total: int, agree) -> dict[int, float]:
    """``{n: agree(n)["mean"]}`` for the first n = 4, 8, ... 64 faces, fewer than ``total``."""
    return {n: agree(n)["mean"] for n in (4, 8, 16, 32, 64) if n < total}


def pair_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Unbiased ``E[a]·E[b]`` per channel from ``(C, N, D)`` per-face values: the inner
    products of pairs of different faces only."""
    n = a.shape[1]
    return ((a.sum(1) * b.sum(1)).sum(1) - (a * b).sum((1, 2))) / (n * (n - 1))


def limit_agreement(x: torch.Tensor, y: torch.Tensor) -> dict:
    """Where the agreement of two face averages goes with ever more faces: per channel,
    cos(E[x_n], E[y_n]) from ``(C, N, D)`` per-face unit differences, with each inner
    product estimated without bias from pairs of different faces (the n == m terms, which
    carry the per-face noise, left out). Noisy: it can exceed 1, and channels whose mean
    direction is too weak for a positive estimate of its length are counted, not scored."""
    xx, yy, xy = pair_product(x, x), pair_product(y, y), pair_product(x, y)
    ok = (xx > 0) & (yy > 0)
    cos = (xy[ok] / (xx[ok] * yy[ok]).sqrt()).tolist()
    return {"channels": len(cos), "too_weak": int((~ok).sum()),
            "median": statistics.median(cos) if cos else None,
            "min": min(cos) if cos else None, "max": max(cos) if cos else None}


def reference_ceiling(diffs: torch.Tensor) -> dict:
    """How close the finite-difference Δi of these N faces is to the definition's own value
    over all faces: per channel cos(mean_n x_n, E[x]) = |E[x]| / |mean_n x_n|, with |E[x]|²
    estimated without bias from pairs of different faces. Even the exact all-faces Δi would
    agree with this reference only this well (an estimate made on the same faces can do
    better, as it shares their sampling)."""
    pairs = pair_product(diffs, diffs)
    length = diffs.mean(1).norm(dim=1)
    alive = length > 0
    cos = (pairs[alive].clamp(min=0).sqrt() / length[alive]).tolist()
    return {"channels": len(cos), "mean": statistics.mean(cos),
            "median": statistics.median(cos), "min": min(cos)}


def bench(G, name: str, args, std: torch.Tensor) -> dict:
    """Ours against the finite differences on the relevance's own faces, for each step in
    ``--fd-sigmas``; the first step also gets its split-half agreement (the definition's
    own face-sampling noise), the others their agreement with the first."""
    clip = make_model(name)
    ours, ours_s = (None, None) if args.fd_only else our_relevance(G, clip, args, std)
    cfg = vars(RelevanceConfig(faces=args.faces)) if args.fd_only else ours.config
    flats = seeded_styles(G, cfg["faces"], cfg["psi"], cfg["seed"])
    channels = torch.randperm(s_dim(G), generator=torch.Generator().manual_seed(0))
    channels = channels[:args.channels].tolist()
    if args.fd_only:
        for sigmas in args.fd_sigmas:
            cached_differences(G, clip, name, channels, flats, std, cfg, sigmas, args.diffs_cache,
                               args.mean)
        return None
    mine = ours.delta_i[channels]
    row = {"model": name, "embed_dim": clip.embed_dim, "faces": len(flats), "rank": cfg["rank"],
           "shipped": args.shipped, "fd_centre": args.fd_centre,
           "ours": {"seconds": ours_s, **ours.evaluations}, "fd": {}}
    reference = None
    for sigmas in args.fd_sigmas:
        diffs, seconds = cached_differences(G, clip, name, channels, flats, std, cfg, sigmas,
                                            args.diffs_cache, args.mean)
        entry = {"subset_seconds": seconds,
                 "subset_forward": 2 * len(channels) * len(flats),
                 "agreement": agreement(mine, unit_mean(diffs)),
                 "agreement_by_fd_faces": first_faces(
                     len(flats), lambda n: agreement(mine, unit_mean(diffs[:, :n])))}
        if reference is None:
            reference, half = diffs, len(flats) // 2
            a, b = unit_mean(diffs[:, :half]), unit_mean(diffs[:, half:])
            entry["split_half"] = agreement(a, b)
            # channels whose finite-difference direction reproduces across the two halves of
            # the faces: where the definition itself is well estimated
            stable = (a * b).sum(1) >= STABLE_SPLIT
            entry["agreement_stable_channels"] = agreement(mine, unit_mean(diffs), stable)
            entry["reference_ceiling"] = reference_ceiling(diffs)
        else:
            entry["vs_first_step"] = agreement(unit_mean(diffs), unit_mean(reference))
            entry["vs_first_step_by_faces"] = first_faces(
                len(flats), lambda n: agreement(unit_mean(diffs[:, :n]),
                                                unit_mean(reference[:, :n])))
            entry["vs_first_step_limit"] = limit_agreement(diffs, reference)
        row["fd"][str(sigmas)] = entry
    ref = row["fd"][str(args.fd_sigmas[0])]
    full_forward = 2 * s_dim(G) * len(flats)
    seconds = ref["subset_seconds"]  # None when the differences came from the cache
    full_seconds = seconds / len(channels) * s_dim(G) if seconds else None
    row["naive_full"] = {"forward": full_forward, "seconds": full_seconds}
    passes = ours.evaluations["forward"] + ours.evaluations["backward"]
    row["ratio"] = {"generator_passes": full_forward / passes,
                    "seconds": full_seconds / ours_s if ours_s and full_seconds else None}
    return row


def spread(a: dict) -> str:
    """``mean/median/min`` of an agreement dict, or ``-`` when it has no channels."""
    return f"{a['mean']:.3f}/{a['median']:.3f}/{a['min']:.3f}" if a.get("channels") else "-"


def num(x: float | None) -> str:
    return "-".rjust(7) if x is None else f"{x:7.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="face-measures,random-vit-b32")
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--channels", type=int, default=24, help="channels in the naive subset")
    ap.add_argument("--rank", type=int, default=512, help="k (>= embed dim: exact)")
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--fd-sigmas", default="5,1",
                    help="finite-difference steps; the first (StyleCLIP: 5) is the reference")
    ap.add_argument("--shipped", action="store_true",
                    help="measure the shipped (or cached) relevance on its own faces instead "
                         "of computing one on --faces")
    ap.add_argument("--relevance", default=None,
                    help="measure this relevance file on its own faces (one --models entry)")
    ap.add_argument("--fd-centre", choices=["mean", "face"], default="mean",
                    help="mean: the channel is set to its mean before the ±step (StyleCLIP's "
                         "reference code); face: the step is taken from each face's own value "
                         "(the paper's formula)")
    ap.add_argument("--diffs-cache", default=None,
                    help="folder keeping the finite differences between runs")
    ap.add_argument("--fd-only", action="store_true",
                    help="only compute (and cache) the finite differences of a --faces config")
    ap.add_argument("--json", default="benchmarks/results/styleclip.json")
    args = ap.parse_args()
    args.fd_sigmas = [float(s) for s in args.fd_sigmas.split(",")]
    G = load_generator("mobilestylegan-ffhq")
    mean, std = style_mean_std(G)
    args.mean = mean if args.fd_centre == "mean" else None
    rows = []
    print(f"{'model':16} {'D':>4} {'k':>4} {'ours s':>7} {'naive s (all)':>13} {'x passes':>8} "
          f"{'x time':>7} " + " ".join(f"{'cos@' + str(s) + 'σ mean/med/min':>24}"
                                      for s in args.fd_sigmas))
    for name in args.models.split(","):
        row = bench(G, name, args, std)
        if row is None:
            print(f"{name}: finite differences cached in {args.diffs_cache}")
            continue
        rows.append(row)
        cos = " ".join(spread(row["fd"][str(s)]["agreement"]).rjust(24) for s in args.fd_sigmas)
        print(f"{name:16} {row['embed_dim']:4d} {row['rank']:4d} {num(row['ours']['seconds'])} "
              f"{num(row['naive_full']['seconds']):>13} {row['ratio']['generator_passes']:8.1f} "
              f"{num(row['ratio']['seconds'])} {cos}", flush=True)
        fd = [row["fd"][str(s)] for s in args.fd_sigmas]
        stable = fd[0]["agreement_stable_channels"]
        print(f"{'':16} {row['faces']} faces; FD@{args.fd_sigmas[0]}σ split-half "
              f"{fd[0]['split_half']['mean']:.3f}; ours vs FD on the {stable['channels']} "
              f"channels with split-half >= {STABLE_SPLIT}: {spread(stable)}; the reference's "
              f"own ceiling (all-faces Δi vs these faces') {spread(fd[0]['reference_ceiling'])}"
              "; ours vs FD on the first n faces "
              f"{fd[0]['agreement_by_fd_faces']}; "
              + "; ".join(f"FD@{s}σ vs FD@{args.fd_sigmas[0]}σ {f['vs_first_step']['mean']:.3f} "
                          f"(first n faces {f['vs_first_step_by_faces']}; many faces: "
                          f"{f['vs_first_step_limit']})"
                          for s, f in zip(args.fd_sigmas[1:], fd[1:])), flush=True)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"threads": torch.get_num_threads(),
                                               "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
