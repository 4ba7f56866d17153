"""What the distilled heads and truncation cost, as distribution distances (FD, KID).

Sets of ``--n`` faces of the embedded model, embedded by an ImageNet backbone
(EfficientNet-Lite0 by default, 1280-D pooled features at 224 px):

* ``ref``     psi 1.0, 256 px (the distilled early-exit head), seeds 0..n-1: the reference;
* ``same``    psi 1.0, 256 px, other seeds (1e6..): two samples of one distribution, i.e.
  the noise floor of the numbers at this ``n``;
* ``1024``    psi 1.0, the full 1024 px output downsampled to 256 px (antialiased), other
  seeds (2e6..): what the 256 px head costs against the model's own full output;
* ``psi0.7``, ``psi0.5``  truncated, 256 px, other seeds (3e6.., 4e6..).

Every row is a distance from ``ref``. FD-EffNet / KID-EffNet are real distribution
distances but **not comparable with published Inception FID/KID**. Features are cached
(``<stylelab cache>/benchmarks/``) by model, backbone, set and n, so reruns are cheap.

    python benchmarks/distribution.py [--n 2000] [--backbone efficientnet-lite0] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from stylelab import load_generator
from stylelab.cache import cache_dir
from stylelab.perceptual import load_backbone
from stylelab.perceptual.distribution import (
    NOT_FID,
    frechet_distance,
    kid,
    metric_name,
    sample_features,
)

#: name -> (psi, render size, downsample to, first seed)
SETS = {
    "ref": (1.0, 256, None, 0),
    "same": (1.0, 256, None, 1_000_000),
    "1024": (1.0, 1024, 256, 2_000_000),
    "psi0.7": (0.7, 256, None, 3_000_000),
    "psi0.5": (0.5, 256, None, 4_000_000),
}


def features(G, backbone, name: str, n: int) -> tuple[torch.Tensor, float]:
    """``(features (n, D), seconds)``; seconds is 0 when they came from the cache."""
    psi, size, down, first = SETS[name]
    path = cache_dir() / "benchmarks" / f"feats-{G.model_name}-{backbone.name}-{name}-{n}.safetensors"
    if path.exists():
        return load_file(str(path))["f"], 0.0
    t0 = time.perf_counter()
    f = sample_features(G, n, backbone, psi=psi, size=size, first_seed=first,
                        downsample_to=down)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"f": f.contiguous()}, str(path))
    return f, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--kid-subsets", type=int, default=100)
    ap.add_argument("--json", default="benchmarks/results/distribution.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(args.model)
    backbone = load_backbone(args.backbone)
    fd_name, kid_name = metric_name("FD", backbone), metric_name("KID", backbone)
    feats, seconds = {}, {}
    for name in SETS:
        feats[name], seconds[name] = features(G, backbone, name, args.n)
    subset = min(1000, args.n)
    print(f"{args.model}, {args.n} faces per set, {backbone.name} features ({NOT_FID})")
    print(f"{'set vs ref':10} {fd_name:>16} {kid_name + ' (x1e3)':>22} {'s/set':>7}")
    rows = {}
    for name in SETS:
        if name == "ref":
            continue
        fd = frechet_distance(feats["ref"], feats[name])
        k = kid(feats["ref"], feats[name], subsets=args.kid_subsets, subset_size=subset)
        rows[name] = {"fd": fd, "kid": k.mean, "kid_std": k.std, "seconds": seconds[name]}
        print(f"{name:10} {fd:16.3f} {k.mean * 1e3:12.3f} +- {k.std * 1e3:6.3f} "
              f"{seconds[name]:7.0f}", flush=True)
    out = {"model": args.model, "n": args.n, "backbone": backbone.name, "metric_fd": fd_name,
           "metric_kid": kid_name, "note": NOT_FID, "sets": {k: list(map(str, v))
                                                              for k, v in SETS.items()},
           "kid_subset_size": subset, "kid_subsets": args.kid_subsets,
           "threads": args.threads, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print("wrote", args.json)


if __name__ == "__main__":
    main()
