"""The face text-image model, measured: zero-shot attribute accuracy and caption retrieval.

Sets: (a) held-out generated faces of the face set (the last ``--heldout`` faces, the ones
``training/train_facetext.py`` never trains on; the first ``--faces`` of them), rendered from
their seeds; (b) openpeople portraits (PyPI ``openpeople``), FFHQ-aligned with dlib and
labelled with the same measures (face-api.js age/gender/expression, dlib landmarks, pixel
colours) and the same :class:`~stylelab.clip.captions.Labeller`.

Per attribute and prompt split ("seen": the training templates and words; "held-out":
templates and synonyms never used in training): accuracy, class-balanced accuracy and chance
(one over the classes present). Retrieval on (a): one caption per face (composed from its
labels), text-to-image R@1 and R@5 among the ``--faces`` faces (chance: 1/N and 5/N; faces
with the same labels make a perfect score impossible). Prints tables, writes JSON.

    python benchmarks/facetext.py [--clip stylelab/faces-minilm] [--faces 400] [--photos 20]
    python benchmarks/facetext.py --clip face-measures   # the constructed comparison model

Note: the face-api.js measures that label these sets also made the training labels, so (a)
measures how well the model learnt those labels; (b) adds real photos of a different source.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from stylelab import load_generator
from stylelab.cache import cache_dir
from stylelab.clip import load_clip
from stylelab.clip.captions import VALUES, CaptionComposer, Labeller
from stylelab.clip.zeroshot import (
    accuracy,
    class_embeddings,
    classify,
    image_embeddings,
    retrieval_recall,
    text_embeddings,
)
from stylelab.datasets.faceset import FaceSet, label_images, load_faceset

ATTRIBUTES = ("gender", "age", "decade", "expression", "smile", "mouth", "eyes", "yaw", "pitch",
              "hair", "background")
SPLITS = {"seen": "train", "held-out": "heldout"}


def heldout_faces(args) -> FaceSet:
    shards = cache_dir() / "faceset" / "mobilestylegan-ffhq-psi1"
    fs = FaceSet.load(args.faceset or shards) if (args.faceset or shards.is_dir()) \
        else load_faceset("mobilestylegan-ffhq-psi1")
    first = len(fs) - args.heldout
    return fs.subset(np.arange(first, min(len(fs), first + args.faces)))


def photo_set(n: int) -> tuple[torch.Tensor, list[dict[str, str]]] | None:
    """(aligned photos (N, 3, 256, 256), their attribute words) or None (no openpeople)."""
    from stylelab.directions.measures import FaceMeasurer
    from stylelab.faces import FaceAttributes, align_face, load_image
    from stylelab.images import from_pil
    from stylelab.pipelines.invert import example_photos

    photos = example_photos()[:n]
    if not photos:
        return None
    images = torch.cat([from_pil(align_face(load_image(p), size=256).image) for p in photos])
    measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
    cols, _ = label_images(images, measurer)
    return images, Labeller().label_all(cols)


def zero_shot(model, image_emb: torch.Tensor, attrs: list[dict[str, str]],
              composer: CaptionComposer) -> dict[str, dict]:
    out = {}
    for name, split in SPLITS.items():
        for attr in ATTRIBUTES:
            values = VALUES[attr]
            classes = class_embeddings(model, [composer.class_prompts(attr, v, split)
                                               for v in values])
            truth = np.array([values.index(a[attr]) if attr in a else -1 for a in attrs])
            out[f"{name}/{attr}"] = accuracy(classify(image_emb, classes), truth)
    return out


def retrieval(model, image_emb: torch.Tensor, attrs: list[dict[str, str]],
              composer: CaptionComposer) -> dict[str, dict]:
    out = {}
    for name, split in SPLITS.items():
        captions = [composer.caption(a, i, epoch=10_000, split=split) for i, a in enumerate(attrs)]
        out[name] = retrieval_recall(image_emb, text_embeddings(model, captions)) | {
            "n": len(attrs), "example": captions[0]}
    return out


def print_table(title: str, metrics: dict[str, dict]) -> None:
    print(f"\n{title}\n{'attribute':11s} {'n':>5s}  {'chance':>6s}  seen acc (bal)   "
          "held-out acc (bal)")
    for attr in ATTRIBUTES:
        s, h = metrics[f"seen/{attr}"], metrics[f"held-out/{attr}"]
        if s["n"]:
            print(f"{attr:11s} {s['n']:5d}  {s['chance']:6.3f}  {s['acc']:.3f} ({s['balanced']:.3f})"
                  f"    {h['acc']:.3f} ({h['balanced']:.3f})")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="stylelab/faces-minilm")
    ap.add_argument("--asset", type=Path, help="a faces-minilm file to measure instead of the "
                    "shipped one (e.g. an intermediate export)")
    ap.add_argument("--faceset", help="face-set shards or file (default: as the training)")
    ap.add_argument("--heldout", type=int, default=2000, help="as training's --heldout")
    ap.add_argument("--faces", type=int, default=400, help="held-out faces to use")
    ap.add_argument("--photos", type=int, default=20, help="openpeople portraits (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/facetext.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.asset:
        from stylelab.clip.faces_minilm import FacesMiniLM

        model, args.clip = FacesMiniLM.load(args.asset), str(args.asset)
    elif args.clip == "face-measures":  # the constructed model: face-api.js nets + pixel cues
        from stylelab.faces import FaceAttributes
        from stylelab.testing.clip import FaceMeasureClip

        model = FaceMeasureClip(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")), distractors=8)
    else:
        model = load_clip(args.clip)
    composer = CaptionComposer()
    results = {"clip": args.clip, "args": {k: str(v) for k, v in vars(args).items()}}

    fs = heldout_faces(args)
    G = load_generator(fs.meta.get("model", "mobilestylegan-ffhq"))
    images = fs.render(G, np.arange(len(fs)), 256)
    start = time.perf_counter()
    emb = image_embeddings(model, images)
    results["image_ms_per_face"] = 1000 * (time.perf_counter() - start) / len(fs)
    attrs = Labeller().label_all(fs.labels)
    results["generated"] = zero_shot(model, emb, attrs, composer)
    results["retrieval"] = retrieval(model, emb, attrs, composer)
    print_table(f"(a) {len(fs)} held-out generated faces, zero-shot", results["generated"])
    for name, r in results["retrieval"].items():
        print(f"retrieval, {name} captions: R@1 {r['R@1']:.3f}  R@5 {r['R@5']:.3f} "
              f"(chance {1 / r['n']:.4f} / {5 / r['n']:.4f}); e.g. {r['example']!r}")
    photos = photo_set(args.photos) if args.photos else None
    if photos is not None:
        p_images, p_attrs = photos
        results["photos"] = zero_shot(model, image_embeddings(model, p_images), p_attrs, composer)
        print_table(f"(b) {len(p_attrs)} openpeople portraits, zero-shot", results["photos"])
    print(f"\nimage tower: {results['image_ms_per_face']:.1f} ms per face "
          f"({torch.get_num_threads()} threads)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
