"""The inversion-based parts of ``benchmarks/aligned.py`` (run through it, not directly).

- ``translation``: portrait photos (openpeople, FFHQ-aligned) inverted into the parent (our
  e4e encoder + ``--steps`` W+ steps), rendered by each child: dlib identity and landmark
  agreement with the photo, and the known answer ``f(G_s(w))`` (fraction of the parent
  reconstruction's distance to it that the child closes; pixels and chroma).
- ``zeroshot``: StyleAlign's zero-shot regression. Ridge regressors on the first 7 W+
  entries of the shipped face set's parent latents (18,000 faces, labels measured on the
  parent's images) predict age, yaw, smile and gender (0/1 at 0.5) for ``--zeroshot-faces``
  held-out faces: from their true latents, from the parent image inverted in the parent,
  from the child image inverted in the child (zero-shot: no child label) and, as the
  control, from the child image inverted in the parent. Known answer: the parent face's
  labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from aligned_common import (
    known_answer,
    landmark_distance,
    landmarks,
    pixel_distance,
    render,
    table,
)

from stylelab.adaptation.filters import chroma_distance
from stylelab.aligned import correlation, fit_regressor

REG_LAYERS = 7
ZS_ATTRS = ("age", "yaw", "smile", "gender")


def invert_batch(G, images: torch.Tensor, steps: int, encoder) -> torch.Tensor:
    """W+ ``(N, num_ws, w_dim)`` of ``images`` in ``G``: ``encoder`` (the parent's e4e) then
    ``steps`` Adam steps of the standard inversion objective (batch mean)."""
    from stylelab.inversion.losses import build_loss
    from stylelab.inversion.optimize import OptimizeConfig, optimize_latent

    with torch.no_grad():
        init = encoder(images.clamp(-1, 1)).wplus
    if steps == 0:
        return init
    config = OptimizeConfig(space="w+", steps=steps, size=images.shape[-1],
                            early_stop_patience=None)
    objective = build_loss(config.loss, images, G.w_avg)
    latent = init.clone().requires_grad_(True)
    best, _ = optimize_latent(G, objective, latent, images.shape[-1], config, progress=False)
    return best.detach()


def photos(n: int) -> torch.Tensor:
    from stylelab.faces.align import align_face
    from stylelab.faces.io import load_image
    from stylelab.images import from_pil
    from stylelab.pipelines.invert import example_photos

    out = []
    for path in example_photos()[:n]:
        out.append(from_pil(align_face(load_image(path), size=256).image, 256))
    if not out:
        raise SystemExit("no example photos: pip install openpeople")
    return torch.cat(out)


def part_translation(parent, children: dict, args, detector) -> list[dict]:
    from stylelab.encoders import load_encoder
    from stylelab.faces import IdentityModel

    encoder = load_encoder(f"{parent.model_name}/e4e", parent)
    identity = IdentityModel()
    target = photos(args.photos)
    w = invert_batch(parent, target, args.steps, encoder)
    recon = render(parent, w)
    l_photo = landmarks(detector, target)
    with torch.no_grad():
        e_photo = identity.embed(target)
        rows = [{"child": "(parent reconstruction)", "identity": float(
            F.cosine_similarity(identity.embed(recon), e_photo).mean()),
            "landmarks": landmark_distance(l_photo, landmarks(detector, recon))[0]}]
    for name, child in children.items():
        out = render(child, w)
        with torch.no_grad():
            row = {"child": name,
                   "identity": float(F.cosine_similarity(identity.embed(out), e_photo).mean())}
        row["landmarks"], row["faces"] = landmark_distance(l_photo, landmarks(detector, out))
        answer = known_answer(name, recon)
        if answer is not None:
            for measure, fn in (("pixels", pixel_distance), ("chroma", chroma_distance)):
                with torch.no_grad():
                    base, now = float(fn(recon, answer).mean()), float(fn(out, answer).mean())
                row[f"{measure}_closed"] = 1 - now / max(base, 1e-8)
        rows.append(row)
    table(rows, ["child", "identity", "landmarks", "faces", "pixels_closed", "chroma_closed"],
          f"Translation of {len(target)} photos by latent transfer (W+ {args.steps} steps)")
    return rows


def _scores(regs: dict, latents: torch.Tensor, labels: dict) -> dict:
    out = {}
    for attr, reg in regs.items():
        pred = reg.predict(latents)
        if attr == "gender":
            ok = np.isfinite(labels[attr])
            out[attr] = float(np.mean((pred[ok] > 0.5) == (labels[attr][ok] > 0.5)))
        else:
            out[attr] = correlation(pred, labels[attr])
    return out


def part_zeroshot(parent, children: dict, args, detector) -> list[dict]:
    from stylelab.datasets.faceset import load_faceset
    from stylelab.encoders import load_encoder

    fs = load_faceset()
    keep = np.flatnonzero(fs.valid(*ZS_ATTRS))
    w_all = fs.latents(parent).float()
    train, test = keep[:18_000], keep[-args.zeroshot_faces:]
    regs = {a: fit_regressor(w_all[train], fs.labels[a][train], layers=REG_LAYERS)
            for a in ZS_ATTRS}
    labels = {a: fs.labels[a][test] for a in ZS_ATTRS}
    w = w_all[test]
    encoder = load_encoder(f"{parent.model_name}/e4e", parent)
    rows = [{"latents": "true W", **_scores(regs, w, labels)}]
    parent_images = render(parent, w)
    rows.append({"latents": "parent image -> parent",
                 **_scores(regs, invert_batch(parent, parent_images, args.steps, encoder),
                           labels)})
    for name, child in children.items():
        images = render(child, w)
        rows.append({"latents": f"{name} image -> child (zero-shot)",
                     **_scores(regs, invert_batch(child, images, args.steps, encoder), labels)})
        rows.append({"latents": f"{name} image -> parent (control)",
                     **_scores(regs, invert_batch(parent, images, args.steps, encoder), labels)})
        print(rows[-2], rows[-1], flush=True)
    table(rows, ["latents", *ZS_ATTRS],
          f"Zero-shot regression ({len(test)} held-out faces; r for age/yaw/smile, "
          "accuracy for gender)")
    return rows
