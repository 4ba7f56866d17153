"""Local editing measured: which feature layer to blend at, and F-space vs StyleSpace-only.

For ``--pairs`` face pairs (current seed s, reference seed s + 1000, truncation 0.7) and each
region (``--regions``; masks from the current face's dlib landmarks), transplant the
reference's region:

- F-space blending at every feature layer up to the output size (and ``later`` = the current
  face's fine styles), measured *before* the outside composite: leakage (mean |change|
  outside the mask / inside: lower is more local); then with the composite (the default):
  seam (edge energy on the mask boundary after / before; 1.0 = invisible), closeness to the
  reference inside the mask (mean |after - reference| inside, on [-1, 1]; lower = closer;
  "unchanged" = the same number for the untouched face), dlib identity of after vs before;
- StyleSpace-only: the reference's values of the region's top-k channels (``--channels``)
  from the shipped channel localisation, with the same composite.

Prints a table (means over pairs and regions) and a recommended default layer (closest to the
reference among layers with seam <= 1.25 and leakage <= 0.25), writes JSON.

    python benchmarks/local_edit.py [--pairs 8] [--regions mouth,eyes,nose,hair] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stylelab import load_generator, z_from_seeds
from stylelab.directions.library import DirectionLibrary
from stylelab.faces import IdentityModel
from stylelab.local import (
    LocalConfig,
    face_region_mask,
    local_change,
    seam,
    stylespace_transplant,
    transplant,
)


def closeness(after: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> float:
    inside = mask > 0.5
    return float((after - reference).abs().mean(1)[:, inside].mean())


def measure(result, reference_image, identity, loose=None) -> dict:
    with torch.no_grad():
        cos = F.cosine_similarity(identity.embed(result.before), identity.embed(result.after))
    row = {"seam": seam(result.before, result.after, result.mask),
           "closeness": closeness(result.after, reference_image, result.mask),
           "unchanged": closeness(result.before, reference_image, result.mask),
           "identity": float(cos.mean())}
    if loose is not None:
        change = local_change(loose.before, loose.after, loose.mask)
        row["leakage"] = change["outside"] / max(change["inside"], 1e-6)
    return row


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--regions", default="mouth,eyes,nose,hair")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--channels", default="10,30", help="StyleSpace top-k channel counts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/local_edit.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    G = load_generator(args.model)
    identity = IdentityModel()
    localisation = DirectionLibrary(G).localisation()
    layers = [lay.name for lay in G.feature_layers if lay.resolution <= args.size]
    rows = []
    for i in range(args.pairs):
        with torch.no_grad():
            w = G.map(z_from_seeds([i], G.z_dim), 0.7)
            ref = G.map(z_from_seeds([i + 1000], G.z_dim), 0.7)
            image, ref_image = G.synthesis(w, size=args.size), G.synthesis(ref, size=args.size)
        for region in args.regions.split(","):
            try:
                mask = face_region_mask(image, region, args.size)
            except ValueError:
                continue
            for layer in layers:
                start = time.perf_counter()
                out = transplant(G, w, ref, mask, LocalConfig(layer=layer), args.size)
                seconds = time.perf_counter() - start
                loose = transplant(G, w, ref, mask, LocalConfig(layer=layer, keep_outside=False),
                                   args.size)
                rows.append({"pair": i, "region": region, "method": f"F:{layer}",
                             "seconds": seconds, **measure(out, ref_image, identity, loose)})
            for k in (int(k) for k in args.channels.split(",")) if localisation else ():
                channels = localisation.top_channels(region, k)
                out = stylespace_transplant(G, w, ref, channels, mask, args.size)
                loose = stylespace_transplant(G, w, ref, channels, None, args.size)
                loose.mask = out.mask
                rows.append({"pair": i, "region": region, "method": f"S:top{k}",
                             **measure(out, ref_image, identity, loose)})
        print(f"pair {i + 1}/{args.pairs} done", flush=True)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    summary = {m: {k: statistics.fmean(r[k] for r in rows if r["method"] == m)
                   for k in ("leakage", "seam", "closeness", "unchanged", "identity")}
               for m in methods}
    print(f"{'method':9} {'leakage':>8} {'seam':>6} {'close':>6} {'(unch.)':>7} {'id':>6}")
    for m, s in summary.items():
        print(f"{m:9} {s['leakage']:8.3f} {s['seam']:6.3f} {s['closeness']:6.3f} "
              f"{s['unchanged']:7.3f} {s['identity']:6.3f}")
    ok = [m for m in methods if m.startswith("F:") and summary[m]["seam"] <= 1.25
          and summary[m]["leakage"] <= 0.25]
    best = min(ok, key=lambda m: summary[m]["closeness"]) if ok else None
    print(f"recommended layer: {best or 'none meets seam <= 1.25 and leakage <= 0.25'}")
    result = {"args": vars(args), "summary": summary, "recommended": best, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
