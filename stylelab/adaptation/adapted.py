"""Adapted (child) generators: a copy of a registry parent that stores only what changed.

On disk an adapted generator is a folder::

    adapted.json            format, parent name and content digest, method, config,
                            reference image sha256, steps, CPU/wall seconds, loss history
    delta.safetensors       {parameter name: child - parent} for the changed tensors (fp16)
    delta.sha256            its checksum (a truncated or edited file is refused)

:func:`load_adapted` rebuilds the child from the installed parent and refuses a folder whose
parent digest differs from the installed parent's (other weights would give other faces).
The child is a plain :class:`~stylelab.models.StyleGenerator`: every pipeline and tab takes it.
Its mapping network and style affines are the parent's unless the method trained them, so
W, W+ and S codes (and the parent's directions) mean the same face in both.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..cache import CacheError, cache_dir, load_checked, save_checked
from ..hashing import content_digest
from ..inversion.pti import weight_delta
from ..inversion.result import apply_generator_delta
from ..models.base import StyleGenerator

FORMAT = "stylelab-adapted-1"
INFO, DELTA = "adapted.json", "delta.safetensors"


def generator_digest(G: StyleGenerator) -> str:
    """A content digest of ``G``'s parameters and buffers (sha1 hex)."""
    return content_digest(dict(G.state_dict()))


def adapted_root() -> Path:
    """``<stylelab cache>/adapted``: where the hub and ``stylelab adapt`` save by default."""
    return cache_dir() / "adapted"


def is_adapted_dir(path: str | Path) -> bool:
    return (Path(path) / INFO).is_file()


def check_destination(directory: str | Path, overwrite: bool = True) -> None:
    """Where an adapted generator may be saved: a new path, an empty folder, or (with
    ``overwrite``) an adapted generator folder. ValueError otherwise (never a user's other
    files)."""
    directory = Path(directory)
    if not directory.exists() or (directory.is_dir() and not any(directory.iterdir())):
        return
    if not (directory.is_dir() and is_adapted_dir(directory)):
        raise ValueError(f"{directory} exists and is not an adapted generator folder; "
                         "choose another path")
    if not overwrite:
        raise ValueError(f"{directory} already holds an adapted generator; pass --overwrite")


@dataclass
class AdaptedGenerator:
    """The result of :func:`stylelab.adaptation.adapt`.

    ``generator``: the child (eval mode, gradients off), named ``adapted:<name>``, with
    ``parent_name`` set so direction sets of the parent apply. ``delta``: child minus parent
    for the parameters that changed. ``history``: one dict of loss terms per step.
    """

    generator: StyleGenerator
    parent: str
    parent_digest: str
    method: str
    config: dict
    delta: dict[str, torch.Tensor]
    reference_sha256: str | None = None
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    name: str = ""

    def info(self) -> dict:
        return {"format": FORMAT, "name": self.name, "parent": self.parent,
                "parent_digest": self.parent_digest, "method": self.method,
                "config": self.config, "reference_sha256": self.reference_sha256,
                "steps": self.steps, "seconds": round(self.seconds, 2),
                "cpu_seconds": round(self.cpu_seconds, 2), "history": self.history}

    def save(self, directory: str | Path, dtype: torch.dtype = torch.float16) -> Path:
        """Write the folder (atomically: a half-written folder never appears). An existing
        folder is replaced only if it holds an adapted generator; any other is refused."""
        directory = Path(directory)
        check_destination(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            save_checked(tmp / DELTA, {k: v.to(dtype) for k, v in self.delta.items()},
                         {"format": FORMAT, "parent": self.parent})
            (tmp / INFO).write_text(json.dumps(self.info(), indent=1) + "\n")
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory


def child_from(parent: StyleGenerator, delta: dict[str, torch.Tensor], name: str,
               parent_digest: str | None = None) -> StyleGenerator:
    """The parent plus ``delta``, named ``adapted:<name>`` with ``parent_name`` and
    ``parent_digest`` (the parent's :func:`generator_digest`) set."""
    child = apply_generator_delta(parent, delta).eval()
    child.model_name = f"adapted:{name}"
    child.parent_name = parent.model_name
    child.parent_digest = parent_digest or generator_digest(parent)
    child.shares_styles = not any(k.startswith("affines.") for k in delta)
    child.default_truncation = parent.default_truncation
    return child


def make_adapted(parent: StyleGenerator, tuned: StyleGenerator, *, method: str, config: dict,
                 name: str, **info) -> AdaptedGenerator:
    """Package a trained copy ``tuned`` of ``parent`` (``info``: the optional fields)."""
    delta = weight_delta(parent, tuned)
    digest = generator_digest(parent)
    child = child_from(parent, delta, name, digest)
    return AdaptedGenerator(child, parent.model_name, digest, method, config, delta, name=name,
                            **info)


def read_info(directory: str | Path) -> dict:
    """The folder's ``adapted.json``; :class:`CacheError` if missing or not ours."""
    path = Path(directory) / INFO
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CacheError(f"{directory} is not an adapted generator folder ({INFO} is missing "
                         "or unreadable); make one with `stylelab adapt`") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CacheError(f"{path} is not a {FORMAT} file")
    return info


def load_adapted(directory: str | Path, device: str | torch.device = "cpu",
                 parent: StyleGenerator | None = None) -> AdaptedGenerator:
    """Rebuild a saved adapted generator on its installed parent (loaded by name unless given).

    Raises :class:`CacheError` when the folder is not an adapted generator, its delta is
    truncated or corrupt, or the installed parent's weights differ from those it was trained
    on (nothing is half-loaded)."""
    from ..registry import load_generator

    directory = Path(directory)
    info = read_info(directory)
    delta = {k: v.float() for k, v in load_checked(directory / DELTA).items()}
    G = parent if parent is not None else load_generator(info["parent"])
    if generator_digest(G) != info["parent_digest"]:
        raise CacheError(f"{directory} was adapted from other {info['parent']} weights than "
                         "the installed ones (parent digest differs); adapt it again")
    try:
        child = child_from(G, delta, directory.name, info["parent_digest"])
    except KeyError as exc:
        raise CacheError(f"{directory}: {exc.args[0]}") from None
    return AdaptedGenerator(child.to(device), info["parent"], info["parent_digest"],
                            info["method"], info.get("config", {}), delta,
                            info.get("reference_sha256"), info.get("history", []),
                            info.get("steps", 0), info.get("seconds", 0.0),
                            info.get("cpu_seconds", 0.0), info.get("name", ""))


def list_adapted(root: str | Path | None = None) -> list[Path]:
    """Adapted generator folders saved under ``root`` (default :func:`adapted_root`)."""
    root = Path(root) if root is not None else adapted_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and is_adapted_dir(p))
