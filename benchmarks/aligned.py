"""Aligned models (StyleAlign, furry cars, MATEBIT): the analyses of issue 16 with numbers.

A parent (``--model``) and children adapted from it (``--children``: folders in
``<cache>/adapted/`` made by ``benchmarks/adaptation.py --save``; the filter named first in
a child's name is its known answer). Parts (``--parts``):

- ``changes``: per-layer relative weight change of convolutions (coarse / middle / fine W+
  bands) and style affines, and the StyleSpace change ``|s_child - s_parent|`` over
  ``--latents`` latents (relative to the parent's channel spread);
- ``editing``: the parent's directions (InterFaceGAN, StyleSpace, GANSpace) applied in each
  child at +-``--strength`` spreads: landmark measures of the edit in parent and child
  (dlib), and the agreement (cosine of 64 px change maps) of the child's change with the
  known answer's ``f(G_s(w + d)) - f(G_s(w - d))``;
- ``translation`` / ``zeroshot``: see ``benchmarks/aligned_inversion.py``;
- ``hybrids``: layer swaps parent <-> child at several cuts: landmark distance to the shape
  source, appearance similarity (the shipped furry-cars measure) to both sources;
- ``correspondence``: parent face -> child exemplar of another latent, attention over
  generator F features or VGG16 maps, plain vs masked; landmark error of the query's
  landmarks mapped into the exemplar against the exemplar's (known through alignment: the
  parent's render of the exemplar's latent), beside the no-warp baseline.

    python benchmarks/aligned.py [--children sepia-jojo,sketch-jojo] [--parts changes,...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from aligned_common import (
    BANDS,
    attributes,
    cosine_rows,
    known_answer,
    landmark_distance,
    landmarks,
    render,
    small,
    table,
)

from stylelab import load_generator
from stylelab.adaptation import adapted_root, load_adapted
from stylelab.aligned import (
    correspond,
    hybrid,
    landmark_error,
    load_appearance,
    style_changes,
    total_change,
    weight_changes,
)
from stylelab.directions.base import apply_edits
from stylelab.directions.library import DirectionLibrary

PARTS = ("changes", "editing", "translation", "zeroshot", "hybrids", "correspondence")


def part_changes(parent, children: dict, args) -> list[dict]:
    rows = []
    for name, child in children.items():
        ch = weight_changes(parent, child)
        row = {"child": name, "conv": total_change(ch, "conv"),
               "affine": total_change(ch, "affine")}
        for band, (lo, hi) in BANDS.items():
            row[f"conv_{band}"] = total_change([c for c in ch if lo <= c.w_index < hi])
        sc = style_changes(parent, child, n=args.latents)
        rel = {k: v["relative"] for k, v in sc.items()}
        row["s_relative"] = float(np.mean(list(rel.values())))
        row["s_relative_max"] = max(rel.values())
        row["s_top_layer"] = max(rel, key=rel.get)
        row["s_p95"] = float(np.mean([v["p95"] for v in sc.values()]))
        rows.append(row)
    table(rows, ["child", "conv", "conv_coarse", "conv_middle", "conv_fine", "affine",
                 "s_relative", "s_relative_max", "s_top_layer"],
          "What fine-tuning changes (relative weight change; S change / parent spread)")
    return rows


EDITS = (("interfacegan", "smile"), ("interfacegan", "yaw"), ("interfacegan", "mouth_open"),
         ("interfacegan", "eye_openness"), ("stylespace", "smile"), ("ganspace", 0),
         ("ganspace", 1))
MEASURED = {"smile": "smile", "yaw": "yaw", "mouth_open": "mouth_open",
            "eye_openness": "eye_openness"}


def edited(G, w, direction, name, strength):
    return render(G, apply_edits(G, w, [(direction, name, strength, None)]))


def part_editing(parent, children: dict, args, detector) -> list[dict]:
    lib = DirectionLibrary(parent, progress=False)
    w = parent.sample_w(args.faces, seed=60_000, truncation_psi=0.7)
    rows = []
    for kind, name in EDITS:
        direction = lib.get(kind)
        name = direction.names[name] if isinstance(name, int) else name
        p_plus, p_minus = (edited(parent, w, direction, name, s * args.strength)
                           for s in (1, -1))
        measure = MEASURED.get(name) if kind != "ganspace" else None
        p_delta = None
        if measure:
            p_delta = (attributes(landmarks(detector, p_plus))[measure]
                       - attributes(landmarks(detector, p_minus))[measure])
        for child_name, child in children.items():
            c_plus, c_minus = (edited(child, w, direction, name, s * args.strength)
                               for s in (1, -1))
            row = {"edit": f"{kind}:{name}", "child": child_name}
            if measure:
                lp, lm = landmarks(detector, c_plus), landmarks(detector, c_minus)
                c_delta = attributes(lp)[measure] - attributes(lm)[measure]
                ok = np.isfinite(c_delta) & np.isfinite(p_delta)
                row.update({"parent_change": float(np.nanmean(p_delta)),
                            "child_change": float(np.mean(c_delta[ok])) if ok.any() else None,
                            "same_sign": float(np.mean(np.sign(c_delta[ok]) ==
                                                       np.sign(p_delta[ok]))) if ok.any()
                            else None,
                            "found": float(ok.mean())})
            answer_plus = known_answer(child_name, p_plus)
            if answer_plus is not None:
                answer_minus = known_answer(child_name, p_minus)
                agree = cosine_rows(small(c_plus - c_minus), small(answer_plus - answer_minus))
                other = cosine_rows(small(c_plus - c_minus),
                                    small(answer_plus - answer_minus).roll(1, 0))
                unadapted = cosine_rows(small(p_plus - p_minus),
                                        small(answer_plus - answer_minus))
                row["answer_agreement"] = float(agree.mean())
                row["parent_agreement"] = float(unadapted.mean())  # the child unadapted
                row["other_face"] = float(other.mean())
            rows.append(row)
            print(json.dumps(row), flush=True)
    table(rows, ["edit", "child", "parent_change", "child_change", "same_sign", "found",
                 "answer_agreement", "parent_agreement", "other_face"],
          f"Cross-domain editing (+-{args.strength} spreads, {args.faces} faces)")
    return rows


def part_hybrids(parent, children: dict, args, detector) -> list[dict]:
    measure = load_appearance(parent.model_name)
    w = parent.sample_w(args.faces, seed=70_000, truncation_psi=0.7)
    rows = []
    for child_name, child in children.items():
        sources = {"parent": render(parent, w), "child": render(child, w)}
        lmk = {k: landmarks(detector, v) for k, v in sources.items()}
        for shape, app in (("parent", "child"), ("child", "parent")):
            models = {"parent": parent, "child": child}
            for cut, soft in [(c, 0.0) for c in args.cuts] + [(7, 2.0)]:
                G = hybrid(models[shape], models[app], cut, soft)
                images = render(G, w)
                dist, n = landmark_distance(lmk[shape], landmarks(detector, images))
                with torch.no_grad():
                    a_app = float(measure.similarity(images, sources[app]).mean())
                    a_shape = float(measure.similarity(images, sources[shape]).mean())
                rows.append({"child": child_name, "shape": shape, "appearance": app,
                             "cut": cut, "softness": soft, "landmarks_to_shape": dist,
                             "faces": n, "appearance_to_app": a_app,
                             "appearance_to_shape": a_shape})
    table(rows, ["child", "shape", "appearance", "cut", "softness", "landmarks_to_shape",
                 "faces", "appearance_to_app", "appearance_to_shape"],
          "Layer-swap hybrids (landmarks / inter-ocular; appearance cosine)")
    return rows


def chunked_error(fq, fe, lq, le, size: int, chunk: int = 4, **kwargs) -> dict[str, float]:
    """:func:`landmark_error` over chunks of faces (64x64 attention grids are large)."""
    errs, sizes = [], []
    for i in range(0, len(fq), chunk):
        corr = correspond(fq[i:i + chunk], fe[i:i + chunk], **kwargs)
        errs.append(landmark_error(corr, lq[i:i + chunk], le[i:i + chunk], size))
        sizes.append(len(fq[i:i + chunk]))
    return {k: float(np.average([e[k] for e in errs], weights=sizes)) for k in errs[0]}


def part_correspondence(parent, children: dict, args, detector, vgg) -> list[dict]:
    n = args.faces
    wq = parent.sample_w(n, seed=80_000, truncation_psi=0.7)
    we = parent.sample_w(n, seed=90_000, truncation_psi=0.7)
    query = render(parent, wq)
    lq, le = landmarks(detector, query), landmarks(detector, render(parent, we))
    keep = [i for i in range(n) if lq[i] is not None and le[i] is not None]
    lq_a, le_a = np.stack([lq[i] for i in keep]), np.stack([le[i] for i in keep])
    base = float(np.mean([np.linalg.norm(a - b, axis=1).mean() / np.linalg.norm(
        b[36:42].mean(0) - b[42:48].mean(0)) for a, b in zip(lq_a, le_a)]))
    rows = []
    for child_name, child in {"(parent)": parent, **children}.items():  # same-domain control
        exemplar = render(child, we)
        with torch.no_grad():
            feats = {f"F:{layer}": (parent.features(wq[keep], layers=[layer])[layer],
                                    child.features(we[keep], layers=[layer])[layer])
                     for layer in ("b2", "b3")}
            for layer in ("relu3_3", "relu4_3"):
                q = vgg.features(query[keep], [layer])[layer]
                feats[f"VGG16:{layer}"] = (q, vgg.features(exemplar[keep], [layer])[layer])
        for fname, (fq, fe) in feats.items():
            for temperature in args.temperatures:
                for masked in (False, True):
                    err = chunked_error(fq, fe, lq_a, le_a, query.shape[-1],
                                        masked=masked, temperature=temperature)
                    rows.append({"child": child_name, "features": fname,
                                 "grid": f"{fq.shape[-1]}x{fq.shape[-2]}",
                                 "temperature": temperature, "masked": masked,
                                 "no_warp": base, **err, "faces": len(keep)})
    table(rows, ["child", "features", "grid", "temperature", "masked", "no_warp", "all",
                 "pck10", "reliable", "reliable_fraction", "faces"],
          "Exemplar correspondence (landmark error / inter-ocular; lower is better)")
    return rows


def load_children(parent, names: list[str], root: Path) -> dict:
    return {name: load_adapted(root / name, parent=parent).generator for name in names}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--children", default="sepia-jojo,sketch-jojo,cartoon-jojo")
    ap.add_argument("--change-children", default=None,
                    help="children for the changes part (default: --children)")
    ap.add_argument("--root", type=Path, default=None, help="default <cache>/adapted")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--faces", type=int, default=12)
    ap.add_argument("--latents", type=int, default=1000)
    ap.add_argument("--strength", type=float, default=2.0)
    ap.add_argument("--temperatures", default="0.02,0.1", help="correspondence softmax")
    ap.add_argument("--cuts", default="0,4,7,10,13,16,23")
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30, help="W+ inversion steps")
    ap.add_argument("--zeroshot-faces", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/aligned.json")
    args = ap.parse_args(argv)
    args.cuts = [int(c) for c in args.cuts.split(",")]
    args.temperatures = [float(t) for t in args.temperatures.split(",")]
    torch.set_num_threads(args.threads)
    from stylelab.faces import FaceDetector
    from stylelab.perceptual import load_backbone

    parent = load_generator(args.model)
    root = args.root or adapted_root()
    children = load_children(parent, args.children.split(","), root)
    detector = FaceDetector(cnn_fallback=False)
    result = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    for part in args.parts.split(","):
        start, cpu = time.perf_counter(), time.process_time()
        if part == "changes":
            names = (args.change_children or args.children).split(",")
            rows = part_changes(parent, load_children(parent, names, root), args)
        elif part == "editing":
            rows = part_editing(parent, children, args, detector)
        elif part == "hybrids":
            rows = part_hybrids(parent, children, args, detector)
        elif part == "correspondence":
            rows = part_correspondence(parent, children, args, detector, load_backbone("vgg16"))
        elif part in ("translation", "zeroshot"):
            import aligned_inversion

            fn = getattr(aligned_inversion, f"part_{part}")
            rows = fn(parent, children, args, detector)
        else:
            raise SystemExit(f"unknown part {part!r}; valid: {', '.join(PARTS)}")
        result[part] = {"rows": rows, "seconds": time.perf_counter() - start,
                        "cpu_seconds": time.process_time() - cpu}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
