"""Command line: ``stylelab models | clip-models | download | generate | align | invert |
styleclip | styleclip-train-mapper | flow-edit | local | adapt``.

Errors the user can fix (bad seeds, unknown model, missing weights) print one
line to stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NoReturn

from .cache import CacheError, cache_dir
from .fileio import (
    atomic_write,
    check_output_dir,
    check_output_file,
    save_png,
    save_pngs,
    write_text,
)
from .inversion.losses import PERCEPTUAL_KINDS
from .latents import parse_seeds
from .pipelines.invert import METHODS as INVERT_METHODS
from .plugins import load_plugins
from .registry import DEFAULT_MODEL, get_spec, list_models

INVERT_FILES = ("reconstruction.png", "latents.safetensors", "metrics.json", "aligned.png",
                "pasted.png")
STYLECLIP_FILES = ("before.png", "after.png", "edited.safetensors", "result.json")
FLOW_FILES = ("before.png", "after.png", "edited.safetensors", "result.json")
LOCAL_FILES = ("before.png", "after.png", "mask.png", "result.json")
MAX_ALIGN_SIZE = 4096
#: the pipelines' ``MAX_STEPS`` (invert and textedit), repeated here so that parsing
#: arguments imports no pipeline; tests/security/test_cli_safety.py keeps them equal
MAX_STEPS = 5000


def _cmd_models(args: argparse.Namespace) -> None:
    print(f"{'name':26} {'res':>5} {'source':9} {'psi':>4}  description")
    for spec in map(get_spec, list_models()):
        print(f"{spec.name:26} {spec.resolution:5d} {spec.source:9} {spec.truncation_psi:4.1f}  "
              f"{spec.description}")
    from .registry import list_adapted_names

    for name in list_adapted_names():
        print(f"{name:26} {'':>5} {'adapted':9} {'':>4}  adapted generator in the cache "
              "(`stylelab adapt`)")


def _cmd_clip_models(args: argparse.Namespace) -> None:
    from .clip import registry

    available = registry.available_clip_models()
    default = registry.preferred_clip(available)
    for name in available:
        print(f"{name}{'  (default)' if name == default else ''}")
    print(registry.clip_status(), file=sys.stderr)


def _cmd_download(args: argparse.Namespace) -> None:
    from .registry import load_generator, model_status

    before = model_status(args.name)
    load_generator(args.name)  # downloads (or converts) into the checksummed cache
    print(f"{args.name}: {'already available' if before == 'ready' else 'downloaded'}; "
          f"cache {cache_dir()}")


def _cmd_generate(args: argparse.Namespace) -> None:
    from .pipelines import GenerationPipeline

    seeds = parse_seeds(args.seeds)
    out = check_output_dir(args.out, names=[f"seed{s:04d}.png" for s in seeds],
                           overwrite=args.overwrite)
    pipe = GenerationPipeline.from_name(args.model)
    psi = pipe.G.default_truncation if args.truncation is None else args.truncation
    rendered = pipe.iter_generate(seeds, psi, args.size, args.batch_size)
    # PNG writing (zlib level 1) overlaps the next synthesis; at most two batches wait
    named = ((image, out / f"seed{seed:04d}.png") for seed, image in rendered)
    for path in save_pngs(named, ahead=2 * args.batch_size):
        print(path)


def _cmd_align(args: argparse.Namespace) -> None:
    from .faces import ALIGN_MAX_SIDE, align_face, load_image

    out = check_output_file(args.out, [args.input], args.overwrite)
    photo = load_image(args.input, max_side=ALIGN_MAX_SIDE)
    aligned = align_face(photo, size=args.size)
    save_png(aligned.image, out)
    if aligned.n_faces > 1:
        print(f"note: {aligned.n_faces} faces found; aligned the largest", file=sys.stderr)
    print(out)


def _cmd_invert(args: argparse.Namespace) -> None:
    import json

    from .pipelines.invert import InversionPipeline

    out = check_output_dir(args.out, [args.input], INVERT_FILES, args.overwrite)
    pipe = InversionPipeline.from_name(args.model, size=args.size)
    outcome = pipe.invert(args.input, args.method, args.steps, args.seed,
                          perceptual=args.perceptual)
    outcome.result.save(out)
    save_png(outcome.aligned.image, out / "aligned.png")
    save_png(outcome.pasted, out / "pasted.png")
    if outcome.aligned.n_faces > 1:
        print(f"note: {outcome.aligned.n_faces} faces found; inverted the largest", file=sys.stderr)
    print(json.dumps({"out": str(out), "seconds": round(outcome.result.seconds, 1),
                      **{k: round(v, 4) for k, v in outcome.metrics.items()}}))


def _styleclip_input(spec: str, G, steps: int):
    """(w, PTI delta, CLCAE F) from "seed:N", a folder written by ``stylelab invert`` (or
    its latents.safetensors), or a photo (inverted into W+ first)."""
    from .inversion.result import InversionResult
    from .pipelines.edit import EditPipeline

    if spec.startswith("seed:"):
        try:
            seed = int(spec[5:])
        except ValueError:
            raise ValueError(f"--input {spec!r}: expected seed:N with an integer N") from None
        return EditPipeline(G).seed_latent(seed), None, None
    path = Path(spec)
    if path.name == "latents.safetensors":
        path = path.parent
    if path.is_dir():
        if not (path / "latents.safetensors").is_file():
            raise ValueError(f"{path} has no latents.safetensors; pass a folder written by "
                             "`stylelab invert`, a photo, or seed:N")
        result = InversionResult.load(path)
        return result.latent, result.generator_delta, result.features
    if not path.is_file():
        raise ValueError(f"--input {spec!r} is not a file, an inversion folder or seed:N")
    from .pipelines.invert import InversionPipeline

    print(f"inverting {path.name} into W+ ({steps} steps) ...", file=sys.stderr)
    outcome = InversionPipeline(G).invert(path, "w+", steps)
    return outcome.result.latent, None, None


def _cmd_styleclip(args: argparse.Namespace) -> None:
    import json

    from safetensors.torch import save_file

    from .clip import registry
    from .images import to_pil
    from .pipelines.textedit import TextEditPipeline

    inputs = [args.input] if not args.input.startswith("seed:") else []
    out = check_output_dir(args.out, inputs, STYLECLIP_FILES, args.overwrite)
    args.clip = args.clip or registry.preferred_clip()
    pipe = TextEditPipeline.from_name(args.model, clip=args.clip)
    w, delta, features = _styleclip_input(args.input, pipe.G, args.invert_steps)
    result = pipe.run(args.method, w, args.prompt, args.neutral,
                      alpha=args.alpha, beta=args.beta, steps=args.steps, space=args.space,
                      max_channels=args.max_channels, delta=delta, features=features)
    save_png(to_pil(result.before)[0], out / "before.png")
    save_png(to_pil(result.image)[0], out / "after.png")
    tensors = {f"styles.{k}": v.contiguous() for k, v in result.styles.items()}
    if result.latent is not None:
        tensors["latent"] = result.latent.contiguous()
    with atomic_write(out / "edited.safetensors") as tmp:
        save_file(tensors, str(tmp))
    info = {"method": result.method, "prompt": args.prompt, "neutral": args.neutral,
            "clip": args.clip, "metrics": result.metrics, "notes": result.notes,
            "seconds": round(result.seconds, 2), "config": result.config}
    write_text(out / "result.json", json.dumps(info, indent=2, default=str))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps({"out": str(out), **{k: round(v, 4) for k, v in result.metrics.items()}}))


def parse_settings(text: str) -> dict[str, float]:
    """``"age=60,yaw=20"`` -> ``{"age": 60.0, "yaw": 20.0}``; ValueError saying the form."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number):
            raise ValueError(f"--set {text!r}: expected name=value pairs separated by commas, "
                             "e.g. age=60,yaw=20")
        out[name.strip()] = number
    if not out:
        raise ValueError("--set needs at least one name=value, e.g. age=60")
    return out


def _cmd_flow_edit(args: argparse.Namespace) -> None:
    import json

    from safetensors.torch import save_file

    from .images import to_pil
    from .pipelines.flow import FlowPipeline, summary

    changes = parse_settings(args.set)
    inputs = [args.input] if not args.input.startswith("seed:") else []
    out = check_output_dir(args.out, inputs, FLOW_FILES, args.overwrite)
    pipe = FlowPipeline.from_name(args.model)
    w, delta, features = _styleclip_input(args.input, pipe.G, args.invert_steps)
    result = pipe.edit(w, changes, delta=delta, features=features)
    save_png(to_pil(result.before)[0], out / "before.png")
    save_png(to_pil(result.after)[0], out / "after.png")
    with atomic_write(out / "edited.safetensors") as tmp:
        save_file({"latent": result.latent.contiguous()}, str(tmp))
    info = {"input": args.input, "model": args.model, **summary(result)}
    write_text(out / "result.json", json.dumps(info, indent=2))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps({"out": str(out), "identity": result.identity,
                      **{f"{k}_after": info["measured_after"][k] for k in changes}}))


def _cmd_local(args: argparse.Namespace) -> None:
    import json

    import torch

    from .faces.regions import REGIONS
    from .images import to_pil
    from .local import (
        LocalConfig,
        face_region_mask,
        load_mask,
        local_change,
        seam,
        transplant,
    )
    from .registry import load_generator

    inputs = [p for p in (args.input, args.reference, args.region) if Path(p).exists()]
    out = check_output_dir(args.out, inputs, LOCAL_FILES, args.overwrite)
    G = load_generator(args.model)
    size = G.check_size(args.size)
    w, delta, _ = _styleclip_input(args.input, G, args.invert_steps)
    reference, _, _ = _styleclip_input(args.reference, G, args.invert_steps)
    if delta:
        print("note: the PTI weight change of the input is not used here", file=sys.stderr)
    if args.region in REGIONS:
        with torch.no_grad():
            mask = face_region_mask(G.synthesis(G.to_wplus(w), size=size), args.region, size)
    elif Path(args.region).is_file():
        mask = load_mask(args.region)
    else:
        raise ValueError(f"--region {args.region!r}: a region ({', '.join(REGIONS)}) or a mask "
                         "image (white where the reference goes)")
    config = LocalConfig(layer=args.layer, keep_outside=not args.no_keep_outside)
    result = transplant(G, w, reference, mask, config, size)
    save_png(to_pil(result.before)[0], out / "before.png")
    save_png(to_pil(result.after)[0], out / "after.png")
    save_png(to_pil(result.mask[None, None].expand(1, 3, -1, -1) * 2 - 1)[0], out / "mask.png")
    info = {"input": args.input, "reference": args.reference, "region": args.region,
            "layer": result.layer, "keep_outside": config.keep_outside,
            "change": local_change(result.before, result.after, result.mask),
            "seam": seam(result.before, result.after, result.mask)}
    write_text(out / "result.json", json.dumps(info, indent=2))
    print(json.dumps({"out": str(out), "layer": result.layer,
                      "inside_outside_ratio": round(info["change"]["ratio"], 2),
                      "seam": round(info["seam"], 3)}))


def _cmd_adapt(args: argparse.Namespace) -> None:
    import json

    from .adaptation.adapted import check_destination
    from .pipelines.adapt import AdaptPipeline

    out = Path(args.out) if args.out else None
    if out is not None:
        check_destination(out, args.overwrite)  # before any training
    pipe = AdaptPipeline.from_name(args.model, embed=args.embed, clip=args.clip)
    result = pipe.adapt(args.method, reference=args.reference, source_text=args.source_text,
                        target_text=args.target_text, steps=args.steps, align=not args.no_align,
                        preserve_colour=args.preserve_colour)
    saved = pipe.save(result, out)
    model = str(saved) if out is not None else f"adapted:{saved.name}"
    print(json.dumps({"out": str(saved), "model": model, "method": result.method,
                      "steps": result.steps, "seconds": round(result.seconds, 1),
                      "final_loss": round(result.history[-1]["total"], 4)
                      if result.history else None}))


def _cmd_train_mapper(args: argparse.Namespace) -> None:
    import json

    from .pipelines.textedit import TextEditPipeline
    from .styleclip.mapper import MapperConfig, train_mapper

    if args.out:  # an existing checkpoint is resumed, so only the place is checked
        check_output_file(args.out, overwrite=True, example="mapper.safetensors")
    pipe = TextEditPipeline.from_name(args.model, clip=args.clip)
    clip = pipe.clip
    config = MapperConfig(prompt=args.prompt, steps=args.steps, batch=args.batch, lr=args.lr,
                          size=pipe.size, checkpoint_every=args.checkpoint_every, seed=args.seed)
    out = Path(args.out) if args.out else pipe.mapper_path(args.prompt)
    training = train_mapper(pipe.G, clip, config, identity=pipe.identity(), checkpoint=out,
                            resume=not args.restart)
    last = training.history[-1] if training.history else {}
    print(json.dumps({"checkpoint": str(out), "step": training.step,
                      "seconds": round(training.seconds, 1),
                      **{k: round(v, 4) for k, v in last.items() if k != "step"}}))


def _shown(text: str, limit: int = 24) -> str:
    """``text`` quoted for a message, shortened when long (a 100k-digit number stays short)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _sign_and_digits(text: str) -> tuple[int, str]:
    """``" -0042"`` -> ``(-1, "0042")``: at most one sign, digits unchecked."""
    text = text.strip()
    if text[:1] in ("+", "-"):
        return (-1 if text[0] == "-" else 1), text[1:]
    return 1, text


def count(low: int, high: int):
    """An argparse type: a whole number in ``low..high``."""
    def parse(text: str) -> int:
        sign, digits = _sign_and_digits(text)
        if not digits.isascii() or not digits.isdigit():
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number")
        if len(digits.lstrip("0")) > len(str(high)):  # before int(): no digit-limit error
            raise argparse.ArgumentTypeError(f"{_shown(text)} is outside {low}..{high}")
        value = sign * int(digits.lstrip("0") or "0")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse


def finite(text: str) -> float:
    """An argparse type: a finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a finite number")
    return value


def _styleclip_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", required=True, help="target text, e.g. 'a smiling face'")
    p.add_argument("--clip", default=None,
                   help="text-image model: ViT-B/32, stylelab/faces-minilm, open_clip:ARCH/TAG, "
                        "hf-hub:ORG/REPO, transformers:ORG/REPO or a local folder (default: "
                        "ViT-B/32 when cached, else the bundled stylelab/faces-minilm; see "
                        "`stylelab clip-models`)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--steps", type=count(1, MAX_STEPS), default=60)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the mistake and where to look, no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stylelab", description="StyleGAN latent-space toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the registered generators").set_defaults(func=_cmd_models)
    sub.add_parser("clip-models", help="list the text-image (CLIP) models available now"
                   ).set_defaults(func=_cmd_clip_models)
    dl = sub.add_parser("download", help="download (or convert) a model's weights into the cache")
    dl.add_argument("name", help="a name from `stylelab models`")
    dl.set_defaults(func=_cmd_download)
    gen = sub.add_parser("generate", help="render images for seeds as PNG files")
    gen.add_argument("--model", default=DEFAULT_MODEL)
    gen.add_argument("--seeds", default="0-7", help="e.g. '0-7' or '1,5,9-11'")
    gen.add_argument("--truncation", type=finite, default=None,
                     help="truncation psi in [0, 2] (default: the model's)")
    gen.add_argument("--size", type=count(1, 4096), default=None,
                     help="output size (default: native)")
    gen.add_argument("--batch-size", type=count(1, 256), default=8)
    gen.add_argument("--out", default="out")
    gen.add_argument("--overwrite", action="store_true", help="replace earlier PNGs in --out")
    gen.set_defaults(func=_cmd_generate)
    align = sub.add_parser("align", help="FFHQ-align the largest face of a photo")
    align.add_argument("input")
    align.add_argument("--out", required=True, help="output PNG path")
    align.add_argument("--size", type=count(16, MAX_ALIGN_SIZE), default=1024,
                       help=f"crop size in pixels (16..{MAX_ALIGN_SIZE})")
    align.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    align.set_defaults(func=_cmd_align)
    inv = sub.add_parser("invert", help="invert a photo: latents, reconstruction, metrics")
    inv.add_argument("input")
    inv.add_argument("--method", default="w+", choices=list(INVERT_METHODS),
                     help="optimisation (w, w+, pti) or a trained encoder: encoder (e4e, "
                          "instant), clcae (W+ and F), encoder+w+ (then --steps of W+), "
                          "encoder+pti")
    inv.add_argument("--steps", type=count(1, MAX_STEPS), default=300)
    inv.add_argument("--model", default=DEFAULT_MODEL)
    inv.add_argument("--size", type=count(16, 4096), default=256, help="inversion resolution")
    inv.add_argument("--seed", type=count(0, 2**32 - 1), default=0)
    inv.add_argument("--perceptual", default="auto", choices=list(PERCEPTUAL_KINDS),
                     help="perceptual loss term (vgg16: the offline VGG16 distance, slower; see README)")
    inv.add_argument("--out", required=True, help="output folder")
    inv.add_argument("--overwrite", action="store_true", help="replace an earlier result")
    inv.set_defaults(func=_cmd_invert)
    sc = sub.add_parser("styleclip", help="text-driven edit (StyleCLIP) of a face")
    _styleclip_common(sc)
    sc.add_argument("--method", default="global", choices=["global", "optimize", "mapper"])
    sc.add_argument("--neutral", default="a face", help="neutral text (global directions)")
    sc.add_argument("--input", required=True,
                    help="seed:N, a folder from `stylelab invert`, or a photo")
    sc.add_argument("--alpha", type=finite, default=4.0, help="global: strength")
    sc.add_argument("--beta", type=finite, default=0.1, help="global: disentanglement threshold")
    sc.add_argument("--max-channels", type=count(0, 1_000_000), default=100,
                    help="global: edit at most this many channels, the most relevant (0: β alone)")
    sc.add_argument("--space", default="w+", choices=["w+", "s"], help="optimize: latent space")
    sc.add_argument("--invert-steps", type=count(1, MAX_STEPS), default=300,
                    help="W+ steps for a photo input")
    sc.add_argument("--out", required=True, help="output folder")
    sc.add_argument("--overwrite", action="store_true", help="replace an earlier result")
    sc.set_defaults(func=_cmd_styleclip)
    fe = sub.add_parser("flow-edit", help="StyleFlow: set attributes (age=60,yaw=20) of a face")
    fe.add_argument("--input", required=True,
                    help="seed:N, a folder from `stylelab invert`, or a photo")
    fe.add_argument("--set", required=True,
                    help="name=value pairs in natural units: age (years), gender (probability "
                         "of male), yaw/pitch (degrees), smile, eye_openness, mouth_open, "
                         "skin_luma")
    fe.add_argument("--model", default=DEFAULT_MODEL)
    fe.add_argument("--invert-steps", type=count(1, MAX_STEPS), default=300,
                    help="W+ steps for a photo input")
    fe.add_argument("--out", required=True, help="output folder")
    fe.add_argument("--overwrite", action="store_true", help="replace an earlier result")
    fe.set_defaults(func=_cmd_flow_edit)
    lo = sub.add_parser("local", help="transplant a face region from a reference face")
    lo.add_argument("--input", required=True, help="seed:N, an inversion folder, or a photo")
    lo.add_argument("--reference", required=True, help="seed:M, an inversion folder, or a photo")
    lo.add_argument("--region", required=True,
                    help="mouth, eyes, brows, nose, hair, face, background, or MASK.png")
    lo.add_argument("--layer", default=None, help="feature layer (default: half the size)")
    lo.add_argument("--model", default=DEFAULT_MODEL)
    lo.add_argument("--size", type=count(16, 4096), default=256)
    lo.add_argument("--no-keep-outside", action="store_true",
                    help="do not composite the outside back pixel-identical")
    lo.add_argument("--invert-steps", type=count(1, MAX_STEPS), default=300)
    lo.add_argument("--out", required=True, help="output folder")
    lo.add_argument("--overwrite", action="store_true", help="replace an earlier result")
    lo.set_defaults(func=_cmd_local)
    ad = sub.add_parser("adapt", help="adapt the generator to a new domain (DiFa, JoJoGAN, "
                        "StyleGAN-NADA)")
    ad.add_argument("--method", default="difa", choices=["difa", "jojo", "nada"])
    ad.add_argument("--reference", default=None, help="reference image (difa, jojo)")
    ad.add_argument("--source-text", default=None, help="nada: e.g. 'photo'")
    ad.add_argument("--target-text", default=None, help="nada: e.g. 'sketch'")
    ad.add_argument("--steps", type=count(1, MAX_STEPS), default=None,
                    help="iterations (default: the method's, 200)")
    ad.add_argument("--embed", default=None,
                    help="difa image embedding: vgg16 (default offline), efficientnet-lite0, "
                         "or clip:<name>")
    ad.add_argument("--preserve-colour", action="store_true",
                    help="jojo: each face keeps its own colours (JoJoGAN's colour-preserving "
                         "mix)")
    ad.add_argument("--clip", default=None, help="nada text-image model (default: the best "
                    "available, see `stylelab clip-models`)")
    ad.add_argument("--no-align", action="store_true",
                    help="use the reference as it is (not a face, or already aligned)")
    ad.add_argument("--model", default=DEFAULT_MODEL)
    ad.add_argument("--out", default=None,
                    help="output folder (default: the cache; then --model adapted:<name>)")
    ad.add_argument("--overwrite", action="store_true", help="replace an adapted generator")
    ad.set_defaults(func=_cmd_adapt)
    tm = sub.add_parser("styleclip-train-mapper", help="train a StyleCLIP latent mapper")
    _styleclip_common(tm)
    tm.add_argument("--batch", type=count(1, 64), default=2)
    tm.add_argument("--lr", type=finite, default=1e-3)
    tm.add_argument("--seed", type=count(0, 2**32 - 1), default=0)
    tm.add_argument("--checkpoint-every", type=count(1, 10**6), default=50)
    tm.add_argument("--out", default=None, help="checkpoint path (default: the cache)")
    tm.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    tm.set_defaults(func=_cmd_train_mapper)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        load_plugins()
        args.func(args)
    except (ValueError, KeyError, CacheError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"stylelab: error: {str(msg).splitlines()[0] if str(msg) else msg}",
              file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, ...: one line, no traceback
        print(f"stylelab: error: {exc.strerror or exc} ({exc.filename or 'output'})",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
