"""The direction object every method returns, its file format, and pure edit functions.

A :class:`Direction` holds ``K`` named vectors in one latent space:

- ``space="w"``: vectors ``(K, w_dim)``, added to W, or to the W+ entries of a layer range;
- ``space="s"``: vectors ``(K, S)`` over the flattened StyleSpace (layers in generator order).

Files: ``NAME.safetensors`` (``vectors``, ``scales``) + ``NAME.json`` (everything else).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..models.base import StyleGenerator, Styles
from ..models.stylespace import flatten_styles, latent_signature, s_dim, unflatten_styles

SPACES = ("w", "s")
FORMAT_VERSION = 1


class DirectionError(ValueError):
    """A direction that does not fit the generator, latent or request (message says why)."""


@dataclass
class Direction:
    """``vectors: (K, D)`` float32, one per name; ``scales: (K,)`` the latent spread along
    each vector (slider units: strength 1 moves one spread).

    ``layers``: default W+ layer range ``(start, stop)`` (stop exclusive) or None for all
    layers. ``model``: the generator's registry name. ``signature``: the latent layout the
    vectors belong to (see :func:`latent_signature`).
    """

    names: list[str]
    vectors: torch.Tensor
    space: str
    model: str
    method: str
    signature: str
    scales: torch.Tensor | None = None
    layers: tuple[int, int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise DirectionError(f"space must be one of {SPACES}, got {self.space!r}")
        self.vectors = torch.as_tensor(self.vectors, dtype=torch.float32).detach().cpu()
        if self.vectors.ndim == 1:
            self.vectors = self.vectors[None]
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.names):
            raise DirectionError(f"vectors must be ({len(self.names)}, D), "
                                 f"got {tuple(self.vectors.shape)}")
        if self.scales is None:
            self.scales = torch.ones(len(self.names))
        self.scales = torch.as_tensor(self.scales, dtype=torch.float32).reshape(-1).cpu()
        self._check_tensors()
        if self.layers is not None:
            self.layers = (int(self.layers[0]), int(self.layers[1]))

    def _check_tensors(self) -> None:
        """Shapes agree with the names and the signature's dimension; values are finite
        (a file whose JSON was edited to "fit" another generator is refused here)."""
        if self.scales.shape != (len(self.names),):
            raise DirectionError(f"scales must be ({len(self.names)},), "
                                 f"got {tuple(self.scales.shape)}")
        match = re.search(r":[ws](\d+)x\d+$", str(self.signature))
        if match and self.vectors.shape[1] != int(match[1]):
            raise DirectionError(f"the vectors are {self.vectors.shape[1]}-D but the signature "
                                 f"{self.signature!r} says {match[1]}-D: the file is damaged "
                                 "or edited; compute the direction again")
        if not (torch.isfinite(self.vectors).all() and torch.isfinite(self.scales).all()):
            raise DirectionError("the direction holds NaN or Inf values: compute it again")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise DirectionError(f"no direction named {name!r} in this {self.method} set; "
                                 f"valid: {', '.join(self.names[:20])}"
                                 f"{' ...' if len(self.names) > 20 else ''}")
        return self.names.index(name)

    def vector(self, name: str) -> torch.Tensor:
        """``(D,)`` vector of ``name``."""
        return self.vectors[self.index(name)]

    def select(self, names: list[str]) -> Direction:
        """A new Direction with only ``names`` (in that order)."""
        idx = [self.index(n) for n in names]
        return replace(self, names=list(names), vectors=self.vectors[idx], scales=self.scales[idx])

    def check(self, G: StyleGenerator) -> None:
        """Raise :class:`DirectionError` unless these vectors belong to ``G``'s latent space."""
        dim = G.w_dim if self.space == "w" else s_dim(G)
        if self.signature == latent_signature(G, self.space) and self.vectors.shape[1] != dim:
            raise DirectionError(f"the vectors are {self.vectors.shape[1]}-D, {G.model_name!r} "
                                 f"needs {dim}-D: compute the direction again")
        if self.signature != latent_signature(G, self.space):
            raise DirectionError(
                f"this {self.method} direction was made for {self.model!r} "
                f"({self.space.upper()} space {self.signature}); the current generator is "
                f"{G.model_name!r} ({latent_signature(G, self.space)}). "
                "Compute the direction again for this generator.")

    def check_compatible(self, other: Direction) -> None:
        """Raise unless ``other`` lives in the same latent space of the same generator."""
        if (self.space, self.signature) != (other.space, other.signature):
            raise DirectionError(f"cannot combine a {self.method} direction for {self.signature} "
                                 f"with a {other.method} direction for {other.signature}")

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write ``path.safetensors`` + ``path.json``; returns the safetensors path."""
        path = Path(path).with_suffix("")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": self.vectors.contiguous(), "scales": self.scales.contiguous()},
                  str(path.with_suffix(".safetensors")))
        meta = {k: v for k, v in asdict(self).items() if k not in ("vectors", "scales")}
        meta["format_version"] = FORMAT_VERSION
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
        return path.with_suffix(".safetensors")

    @classmethod
    def load(cls, path: str | Path) -> Direction:
        """Read a direction written by :meth:`save` (either file's path, or the stem)."""
        path = Path(path).with_suffix("")
        tensor_file, meta_file = path.with_suffix(".safetensors"), path.with_suffix(".json")
        if not tensor_file.is_file() or not meta_file.is_file():
            raise DirectionError(f"a direction needs both {tensor_file.name} and "
                                 f"{meta_file.name} in {path.parent}")
        try:
            meta = json.loads(meta_file.read_text())
            tensors = load_file(str(tensor_file))
            meta.pop("format_version", None)
            layers = meta.pop("layers", None)
            return cls(**meta, vectors=tensors["vectors"], scales=tensors["scales"],
                       layers=None if layers is None else tuple(layers))
        except DirectionError as err:  # a damaged or edited file
            advice = "" if "again" in str(err) else "; the file is damaged: compute it again"
            raise DirectionError(f"{path}: {err}{advice}") from err
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                SafetensorError) as err:
            raise DirectionError(f"{path} is not a stylelab direction file ({type(err).__name__}"
                                 f": {err}); compute the direction again") from err


@torch.no_grad()
def spread_along(G: StyleGenerator, vectors: torch.Tensor, samples: int = 4000) -> torch.Tensor:
    """``(K,)`` standard deviation of ``G``'s W distribution along each row of ``vectors``
    ``(K, w_dim)`` (unit rows: the slider unit of a W direction)."""
    w = G.sample_w(samples, seed=0).double().cpu()
    return (w @ vectors.double().cpu().T).std(0).float()


def check_layers(G: StyleGenerator, layers: tuple[int, int] | None) -> tuple[int, int]:
    """Validate a W+ layer range ``(start, stop)``, stop exclusive; None means all layers."""
    if layers is None:
        return 0, G.num_ws
    start, stop = int(layers[0]), int(layers[1])
    if not 0 <= start < stop <= G.num_ws:
        raise DirectionError(f"layer range {start}..{stop} is outside this model: use "
                             f"0 <= start < stop <= {G.num_ws} (it has {G.num_ws} W+ layers)")
    return start, stop


def edit_w(G: StyleGenerator, w: torch.Tensor, vector: torch.Tensor, strength: float,
           layers: tuple[int, int] | None = None) -> torch.Tensor:
    """``w + strength * vector`` on W+ entries ``layers`` (all by default).

    ``w``: (N, w_dim) or (N, num_ws, w_dim); ``vector``: (w_dim,). Returns W when ``w`` is
    W and the range covers every layer, else W+ ``(N, num_ws, w_dim)``. Pure: ``w`` is
    not modified.
    """
    start, stop = check_layers(G, layers)
    step = strength * vector.to(w.device, w.dtype)
    if w.ndim == 2 and (start, stop) == (0, G.num_ws):
        return w + step
    wp = G.to_wplus(w).clone()
    wp[:, start:stop] += step
    return wp


def edit_s(G: StyleGenerator, styles: Styles, vector: torch.Tensor, strength: float) -> Styles:
    """``styles + strength * vector``; ``vector``: (S,) flattened. Pure."""
    flat = flatten_styles(G, styles) + strength * vector.to(next(iter(styles.values())).device)
    return unflatten_styles(G, flat)


def apply_edits(G: StyleGenerator, w: torch.Tensor,
                edits: list[tuple[Direction, str, float, tuple[int, int] | None]]
                ) -> torch.Tensor | Styles:
    """Apply several ``(direction, name, strength in spreads, layers)`` edits to ``w``.

    W edits go first (summed, each on its own layer range); S edits are then added to
    ``G.w_to_s`` of the result. Returns W/W+ when no S edit is given, else Styles.
    """
    out = w
    s_edits = []
    for direction, name, strength, layers in edits:
        direction.check(G)
        k = direction.index(name)
        amount = float(strength) * float(direction.scales[k])
        if direction.space == "w":
            out = edit_w(G, out, direction.vectors[k], amount, layers or direction.layers)
        else:
            s_edits.append((direction.vectors[k], amount))
    if not s_edits:
        return out
    styles = G.w_to_s(out)
    for vector, amount in s_edits:
        styles = edit_s(G, styles, vector, amount)
    return styles
