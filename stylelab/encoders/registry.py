"""Trained encoders by name: ``load_encoder("mobilestylegan-ffhq/clcae")``.

A name is ``<generator>/<kind>`` (kind: ``psp``, ``e4e``, ``clcae``). Files are looked up in

1. ``stylelab/assets/encoders/<generator>/<kind>.safetensors`` (shipped with the package),
2. ``<stylelab cache>/encoders/<generator>/<kind>.safetensors`` (trained here by
   ``python training/train_encoder.py --model <generator> --kind <kind>``),

each an fp16 safetensors file (the average latent stays fp32) with a ``.sha256`` sidecar
(checked before loading, never pickle) and a ``.json`` sidecar for people (config, training
command, steps, CPU time, metrics); the same metadata is inside the safetensors file, where
the checksum covers it, and that copy is the one read. An encoder is refused
(:class:`EncoderMismatch`) for a generator other than the one it was trained for: another
name, resolution, W+ shape or average latent (a generator named ``custom`` is judged by the
rest). A missing one raises :class:`EncoderUnavailable` with the command that trains it.
The CLCAE alignment module (:mod:`.align`) is stored the same way as ``aligner.safetensors``
(fp32, in the cache only: it is a training loss, not shipped).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..cache import CacheError, cache_dir, load_checked, read_metadata, save_checked
from ..models.base import StyleGenerator
from .align import AlignmentConfig, WImageAligner
from .models import KINDS, Encoder, EncoderConfig

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "encoders"
FORMAT = "stylelab-encoder-1"
ALIGNER_FORMAT = "stylelab-aligner-1"
ALIGNER = "aligner"


class EncoderUnavailable(CacheError):
    """No trained encoder of that name: the message says how to train one."""


class EncoderMismatch(ValueError):
    """The encoder was trained for another generator (name, resolution, W+ shape, w_avg)."""


def train_command(generator: str, kind: str) -> str:
    return f"python training/train_encoder.py --model {generator} --kind {kind}"


def encoder_dirs() -> list[Path]:
    """Where encoders are looked for, first match wins: package assets, then the cache."""
    return [ASSETS, cache_dir(create=False) / "encoders"]


def encoder_path(generator: str, kind: str) -> Path | None:
    """The file of encoder ``generator/kind``, or None when there is none."""
    for folder in encoder_dirs():
        path = folder / generator / f"{kind}.safetensors"
        if path.is_file():
            return path
    return None


def list_encoders() -> list[str]:
    """Names ``generator/kind`` of the encoders available (shipped or trained here)."""
    found = set()
    for folder in encoder_dirs():
        for path in folder.glob("*/*.safetensors") if folder.is_dir() else ():
            if path.stem in KINDS:
                found.add(f"{path.parent.name}/{path.stem}")
    return sorted(found)


def parse_name(name: str) -> tuple[str, str]:
    """``"generator/kind"`` -> ``(generator, kind)``; ValueError listing the valid forms."""
    generator, sep, kind = str(name).strip().rpartition("/")
    if not sep or not generator or kind not in KINDS:
        available = ", ".join(list_encoders()) or "none yet"
        raise ValueError(f"unknown encoder {name!r}: names are <generator>/<kind> with kind in "
                         f"{', '.join(KINDS)}; available: {available}")
    return generator, kind


def load_encoder(name: str, G: StyleGenerator | None = None,
                 device: str | torch.device = "cpu") -> Encoder:
    """Encoder ``name`` (``generator/kind``) in eval mode on ``device``, attached to ``G``
    (default: ``load_generator(generator, device)``).

    Raises ValueError for a malformed name or unknown generator, :class:`EncoderUnavailable`
    when it has not been trained, :class:`EncoderMismatch` when ``G`` is another generator,
    :class:`~stylelab.cache.CacheError` for a corrupt file.
    """
    generator, kind = parse_name(name)
    from ..registry import get_spec, load_generator

    get_spec(generator)  # an unknown generator: ValueError listing the valid ones
    path = encoder_path(generator, kind)
    if path is None:
        raise EncoderUnavailable(
            f"there is no {kind} encoder for {generator} yet; train one with "
            f"`{train_command(generator, kind)}` (it is saved in "
            f"{cache_dir(create=False) / 'encoders' / generator}, where load_encoder finds it)")
    if G is None:
        G = load_generator(generator, device)
    return load_encoder_file(path, G, device)


def _metadata(path: Path, expected_format: str) -> dict:
    meta = read_metadata(path)
    if meta.get("format") != expected_format:
        raise CacheError(f"{path} is not a {expected_format} file (format "
                         f"{meta.get('format')!r})")
    return meta


def check_generator(config: EncoderConfig, G: StyleGenerator, w_avg: torch.Tensor,
                    what: str) -> None:
    """:class:`EncoderMismatch` unless ``G`` is the generator ``config`` was trained for."""
    problems = []
    if G.model_name not in (config.generator, "custom"):
        problems.append(f"it was trained for {config.generator}, not {G.model_name}")
    if G.resolution != config.resolution:
        problems.append(f"for {config.resolution}px, not {G.resolution}px")
    if (G.num_ws, G.w_dim) != (config.num_ws, config.w_dim):
        problems.append(f"for {config.num_ws} x {config.w_dim} W+, not {G.num_ws} x {G.w_dim}")
    elif not torch.allclose(w_avg.float().cpu(), G.w_avg.float().cpu(), rtol=1e-3, atol=1e-3):
        problems.append("for a generator with another average latent")
    if problems:
        raise EncoderMismatch(f"{what} does not fit this generator: {'; '.join(problems)}. "
                              f"Train one for it with "
                              f"`{train_command(G.model_name, config.kind)}`")


def load_encoder_file(path: str | Path, G: StyleGenerator,
                      device: str | torch.device = "cpu") -> Encoder:
    """An encoder saved by :func:`save_encoder`, checked against ``G`` (see module docstring)."""
    path = Path(path)
    meta = _metadata(path, FORMAT)
    config = EncoderConfig.from_dict(json.loads(meta["config"]))
    state = load_checked(path)
    check_generator(config, G, state["w_avg"], path.name)
    with torch.inference_mode(False):
        encoder = Encoder(config)
        encoder.load_export_state(state)
    return encoder.attach(G).eval().to(device)


def save_encoder(encoder: Encoder, path: str | Path, metadata: dict | None = None) -> str:
    """Write ``encoder`` as fp16 safetensors (+ ``.sha256``, + ``.json`` with ``metadata``:
    training command, steps, CPU time, metrics...); returns the sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().half() if v.is_floating_point() and k != "w_avg"
             else v.detach().cpu() for k, v in encoder.export_state().items()}
    info = {"format": FORMAT, "name": f"{encoder.config.generator}/{encoder.config.kind}",
            "config": encoder.config.to_dict(), **(metadata or {})}
    digest = save_checked(path, state, info)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return digest


# ---------------------------------------------------------------------- aligner
def aligner_path(generator: str) -> Path:
    """Where ``training/train_alignment.py`` puts the aligner of ``generator``."""
    return cache_dir(create=False) / "encoders" / generator / f"{ALIGNER}.safetensors"


def save_aligner(aligner: WImageAligner, path: str | Path, generator: str,
                 metadata: dict | None = None) -> str:
    """Write ``aligner`` (fp32) with its config, the generator's name and ``metadata``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"format": ALIGNER_FORMAT, "generator": generator,
            "config": aligner.config.to_dict(), **(metadata or {})}
    state = {k: v.detach().cpu() for k, v in aligner.state_dict().items()}
    digest = save_checked(path, state, info)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return digest


def load_aligner(path: str | Path, G: StyleGenerator | None = None,
                 device: str | torch.device = "cpu") -> WImageAligner:
    """A frozen aligner (eval, no gradients); refused for a ``G`` with another name or
    average latent."""
    path = Path(path)
    if not path.is_file():
        raise EncoderUnavailable(f"{path} does not exist; train the alignment module with "
                                 "`python training/train_alignment.py --model NAME`")
    meta = _metadata(path, ALIGNER_FORMAT)
    config = AlignmentConfig.from_dict(json.loads(meta["config"]))
    state = load_checked(path)
    w_avg = state["latent_tower.w_avg"]
    if G is not None:
        generator = meta.get("generator", "?")
        if G.model_name not in (generator, "custom") or not torch.allclose(
                w_avg, G.w_avg.float().cpu(), rtol=1e-3, atol=1e-3):
            raise EncoderMismatch(f"{path.name} was trained for {generator}, not "
                                  f"{G.model_name}; train one with `python "
                                  f"training/train_alignment.py --model {G.model_name}`")
    with torch.inference_mode(False):
        aligner = WImageAligner(config, w_avg)
        aligner.load_state_dict(state)
    return aligner.freeze().to(device)
