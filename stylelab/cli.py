"""Command line: ``stylelab models | generate | align | invert``.

Errors the user can fix (bad seeds, unknown model, missing weights) print one
line to stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cache import CacheError
from .registry import REGISTRY


def _cmd_models(args: argparse.Namespace) -> None:
    print(f"{'name':26} {'res':>5} {'source':9} {'psi':>4}  description")
    for spec in REGISTRY.values():
        print(f"{spec.name:26} {spec.resolution:5d} {spec.source:9} {spec.truncation_psi:4.1f}  "
              f"{spec.description}")


def _cmd_generate(args: argparse.Namespace) -> None:
    from .pipelines import GenerationPipeline

    pipe = GenerationPipeline(args.model)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create output folder {out}: {exc.strerror}") from exc
    psi = pipe.spec.truncation_psi if args.truncation is None else args.truncation
    for seed, image in pipe.generate(args.seeds, psi, args.size, args.batch_size):
        path = out / f"seed{seed:04d}.png"
        image.save(path, format="PNG")
        print(path)


def _cmd_align(args: argparse.Namespace) -> None:
    from .faces import align_face, load_image

    photo = load_image(args.input)
    aligned = align_face(photo, size=args.size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    aligned.image.save(out, format="PNG")
    if aligned.n_faces > 1:
        print(f"note: {aligned.n_faces} faces found; aligned the largest", file=sys.stderr)
    print(out)


def _cmd_invert(args: argparse.Namespace) -> None:
    import json

    from .pipelines.invert import InversionPipeline

    pipe = InversionPipeline(args.model, size=args.size)
    outcome = pipe.invert(args.input, args.method, args.steps, args.seed)
    out = outcome.result.save(args.out)
    outcome.aligned.image.save(out / "aligned.png", format="PNG")
    outcome.pasted.save(out / "pasted.png", format="PNG")
    if outcome.aligned.n_faces > 1:
        print(f"note: {outcome.aligned.n_faces} faces found; inverted the largest", file=sys.stderr)
    print(json.dumps({"out": str(out), "seconds": round(outcome.result.seconds, 1),
                      **{k: round(v, 4) for k, v in outcome.metrics.items()}}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylelab", description="StyleGAN latent-space toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the registered generators").set_defaults(func=_cmd_models)
    gen = sub.add_parser("generate", help="render images for seeds as PNG files")
    gen.add_argument("--model", default="mobilestylegan-ffhq")
    gen.add_argument("--seeds", default="0-7", help="e.g. '0-7' or '1,5,9-11'")
    gen.add_argument("--truncation", type=float, default=None,
                     help="truncation psi in [0, 2] (default: the model's)")
    gen.add_argument("--size", type=int, default=None, help="output size (default: native)")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.add_argument("--out", default="out")
    gen.set_defaults(func=_cmd_generate)
    align = sub.add_parser("align", help="FFHQ-align the largest face of a photo")
    align.add_argument("input")
    align.add_argument("--out", required=True, help="output PNG path")
    align.add_argument("--size", type=int, default=1024)
    align.set_defaults(func=_cmd_align)
    inv = sub.add_parser("invert", help="invert a photo: latents, reconstruction, metrics")
    inv.add_argument("input")
    inv.add_argument("--method", default="w+", choices=["w", "w+", "pti"])
    inv.add_argument("--steps", type=int, default=300)
    inv.add_argument("--model", default="mobilestylegan-ffhq")
    inv.add_argument("--size", type=int, default=256, help="inversion resolution")
    inv.add_argument("--seed", type=int, default=0)
    inv.add_argument("--out", required=True, help="output folder")
    inv.set_defaults(func=_cmd_invert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, KeyError, CacheError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"stylelab: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
