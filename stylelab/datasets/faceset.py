"""A labelled synthetic face set: seeds, W and measured labels, rendered again on demand.

Face ``i`` is the generator's image of seed ``seeds[i]`` (StyleGAN convention: ``z =
RandomState(seed).randn(1, z_dim)``) mapped and truncated by ``psi``. Only seeds, labels and
(in the working shards) W and landmarks are stored; images are re-rendered from the seeds,
deterministically, when a user needs them (:meth:`FaceSet.render`).

Columns (float32; NaN where a measure could not be taken, e.g. no face found):

* ``face_found`` (1 or 0): dlib's frontal detector found a face;
* landmark measures (:mod:`stylelab.faces.attributes`): ``mouth_open``, ``mouth_width``,
  ``smile``, ``eye_openness``, ``yaw``, ``pitch``, ``roll`` (degrees) and ``iod``
  (inter-ocular distance / image side);
* face-api.js nets: ``age`` (years), ``gender`` (probability of male) and the seven
  expression probabilities (``neutral``, ``happy``, ...);
* pixel measures (:mod:`stylelab.faces.colours`): ``skin_*``, ``hair_*``, ``background_*``
  (median RGB in [0, 1] and luma).

Shards (``shard_<first seed>_<count>.safetensors``) hold ``seeds``, ``w (N, w_dim)``,
``landmarks (N, 68, 2)`` (pixels / image side, in [0, 1]) and ``m.<column>``; their metadata
records the model, psi, render size and CPU seconds. :func:`build_faceset` skips shards that
exist, so an interrupted run resumes; :meth:`FaceSet.export` writes the small file that ships
(seeds and fp16 labels only).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from ..cache import CacheError, sha256_file
from ..faces.attributes import inter_ocular, landmark_attributes
from ..faces.colours import COLOUR_MEASURES, region_colours
from ..faces.faceapi import EXPRESSIONS
from ..fileio import atomic_write, write_text
from ..images import to_uint8
from ..latents import z_from_seeds
from ..models.base import StyleGenerator

LANDMARK_COLUMNS = ("mouth_open", "mouth_width", "smile", "eye_openness", "yaw", "pitch",
                    "roll", "iod")
NET_COLUMNS = ("age", "gender", *EXPRESSIONS)
COLUMNS = ("face_found", *LANDMARK_COLUMNS, *NET_COLUMNS, *COLOUR_MEASURES)
SHARD = re.compile(r"shard_(\d+)_(\d+)\.safetensors$")


@dataclass
class FaceSetConfig:
    """How faces are drawn and labelled. ``size``: render side for labelling (px)."""

    model: str = "mobilestylegan-ffhq"
    psi: float = 1.0
    size: int = 256
    first_seed: int = 0
    shard_size: int = 500
    batch_size: int = 16


def label_images(images: torch.Tensor, measurer) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Label FFHQ-aligned ``images`` (N, 3, S, S) in [-1, 1] with a
    :class:`~stylelab.directions.measures.FaceMeasurer`. Returns ``({column: (N,)},
    landmarks (N, 68, 2) / S)``, NaN where no face was found."""
    n, size = images.shape[0], images.shape[-1]
    arrays = to_uint8(images)
    landmarks = measurer.landmarks(images)
    cols = {c: np.full(n, np.nan) for c in COLUMNS}
    lms = np.full((n, 68, 2), np.nan)
    for i, lm in enumerate(landmarks):
        cols["face_found"][i] = float(lm is not None)
        if lm is None:
            continue
        lms[i] = lm / size
        attrs = landmark_attributes(lm) | {"iod": inter_ocular(lm) / size}
        attrs |= region_colours(arrays[i], lm)
        for k, v in attrs.items():
            cols[k][i] = v
    pred = measurer.faceapi.predict(images, ffhq_aligned=True)
    cols["age"] = pred["age"].double().numpy()
    cols["gender"] = pred["gender_male_prob"].double().numpy()
    for j, name in enumerate(EXPRESSIONS):
        cols[name] = pred["expressions"][:, j].double().numpy()
    return cols, lms


@torch.no_grad()
def render(G: StyleGenerator, seeds: np.ndarray, psi: float, size: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w (N, w_dim), images (N, 3, size, size) in [-1, 1])`` of ``seeds``."""
    w = G.map(z_from_seeds([int(s) for s in seeds], G.z_dim).to(G.device), psi)
    return w, G.synthesis(w, size=G.check_size(size)).cpu()


def label_seeds(G: StyleGenerator, seeds: np.ndarray, measurer, config: FaceSetConfig,
                progress: tqdm | None = None) -> dict[str, np.ndarray]:
    """Render and label ``seeds``; returns the shard's arrays (see module doc)."""
    ws, lms, cols = [], [], {c: [] for c in COLUMNS}
    for start in range(0, len(seeds), config.batch_size):
        batch = seeds[start:start + config.batch_size]
        w, images = render(G, batch, config.psi, config.size)
        labels, lm = label_images(images, measurer)
        ws.append(w.cpu().numpy())
        lms.append(lm)
        for c in COLUMNS:
            cols[c].append(labels[c])
        if progress is not None:
            progress.update(len(batch))
    out = {"seeds": np.asarray(seeds, dtype=np.int64),
           "w": np.concatenate(ws).astype(np.float32),
           "landmarks": np.concatenate(lms).astype(np.float32)}
    return out | {f"m.{c}": np.concatenate(v).astype(np.float32) for c, v in cols.items()}


def shard_path(out_dir: Path, first: int, count: int) -> Path:
    return out_dir / f"shard_{first:08d}_{count}.safetensors"


def build_faceset(G: StyleGenerator, out_dir: str | Path, n: int, measurer,
                  config: FaceSetConfig | None = None, progress: bool = True) -> list[Path]:
    """Label faces of seeds ``first_seed .. first_seed + n - 1`` into shards under ``out_dir``.
    Existing shards (of the same model, psi and size) are kept: reruns resume."""
    config = config or FaceSetConfig(model=G.model_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"model": G.model_name, "psi": str(config.psi), "size": str(config.size)}
    paths, todo = [], []
    for first in range(config.first_seed, config.first_seed + n, config.shard_size):
        count = min(config.shard_size, config.first_seed + n - first)
        path = shard_path(out_dir, first, count)
        paths.append(path)
        if path.exists():
            _check_meta(path, meta)
        else:
            todo.append((first, count, path))
    bar = tqdm(total=sum(c for _, c, _ in todo), desc="label faces", unit="face",
               disable=not progress)
    for first, count, path in todo:
        t0 = time.process_time()
        arrays = label_seeds(G, np.arange(first, first + count), measurer, config, bar)
        cpu = time.process_time() - t0
        with atomic_write(path) as tmp:
            save_file(arrays, str(tmp), metadata=meta | {"cpu_seconds": f"{cpu:.4f}"})
    bar.close()
    return paths


def _check_meta(path: Path, meta: dict[str, str]) -> None:
    with safe_open(str(path), "np") as f:
        have = f.metadata() or {}
    diff = {k: (have.get(k), v) for k, v in meta.items() if have.get(k) != v}
    if diff:
        raise ValueError(f"{path} was made with other settings {diff}; use another folder")


@dataclass
class FaceSet:
    """Seeds and labels (and, from shards, W and landmarks) of a face set."""

    seeds: np.ndarray
    labels: dict[str, np.ndarray]
    meta: dict[str, str] = field(default_factory=dict)
    w: np.ndarray | None = None
    landmarks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.labels)

    @property
    def psi(self) -> float:
        return float(self.meta.get("psi", 1.0))

    @classmethod
    def load(cls, path: str | Path) -> FaceSet:
        """A folder of shards (all of them, in seed order) or one exported/shard file."""
        path = Path(path)
        files = sorted(p for p in path.iterdir() if SHARD.search(p.name)) if path.is_dir() \
            else [path]
        if not files:
            raise FileNotFoundError(f"no face-set shards in {path}; make them with "
                                    "training/make_faceset.py")
        parts = [_read(p) for p in files]
        arrays = {k: np.concatenate([a[k] for a, _ in parts])
                  for k in parts[0][0] if all(k in a for a, _ in parts)}
        names = [k[2:] for k in arrays if k.startswith("m.")]
        names.sort(key=lambda c: (COLUMNS.index(c) if c in COLUMNS else len(COLUMNS), c))
        labels = {c: arrays[f"m.{c}"].astype(np.float32) for c in names}
        meta = {k: v for k, v in parts[0][1].items() if k != "cpu_seconds"}
        cpu = [float(m["cpu_seconds"]) for _, m in parts if "cpu_seconds" in m]
        if cpu:
            meta["cpu_seconds"] = f"{sum(cpu):.3f}"
        return cls(arrays["seeds"], labels, meta, arrays.get("w"), arrays.get("landmarks"))

    def valid(self, *columns: str) -> np.ndarray:
        """Boolean mask of faces whose ``columns`` (default: all) are finite."""
        cols = columns or self.columns
        return np.all([np.isfinite(self.labels[c]) for c in cols], axis=0)

    def subset(self, index: np.ndarray) -> FaceSet:
        pick = (lambda a: None if a is None else a[index])
        return FaceSet(self.seeds[index], {k: v[index] for k, v in self.labels.items()},
                       dict(self.meta), pick(self.w), pick(self.landmarks))

    def latents(self, G: StyleGenerator) -> torch.Tensor:
        """``(N, w_dim)`` W of every face: stored ones, else mapped again from the seeds."""
        if self.w is not None:
            return torch.from_numpy(self.w)
        self._check_model(G)
        seeds = [int(s) for s in self.seeds]
        out = []
        with torch.no_grad():  # z_from_seeds takes at most 1024 seeds at once
            for b in range(0, len(seeds), 1024):
                z = z_from_seeds(seeds[b:b + 1024], G.z_dim).to(G.device)
                out.append(G.map(z, self.psi).cpu())
        return torch.cat(out) if out else torch.zeros(0, G.w_dim)

    def render(self, G: StyleGenerator, index: np.ndarray | list[int], size: int = 256
               ) -> torch.Tensor:
        """Images ``(len(index), 3, size, size)`` in [-1, 1] of the faces at ``index``."""
        self._check_model(G)
        return render(G, self.seeds[np.asarray(index)], self.psi, size)[1]

    def _check_model(self, G: StyleGenerator) -> None:
        model = self.meta.get("model")
        if model and G.model_name not in (model, "custom"):
            raise ValueError(f"this face set was made with {model!r}, not {G.model_name!r}")

    def export(self, path: str | Path, info: dict | None = None) -> Path:
        """Write seeds and fp16 labels (the small file that ships) atomically, with its
        ``.sha256`` and a ``.json`` of ``info`` (command, CPU time, label statistics)."""
        path = Path(path)
        arrays = {"seeds": self.seeds.astype(np.int64)}
        arrays |= {f"m.{k}": v.astype(np.float16) for k, v in self.labels.items()}
        meta = dict(self.meta) | {"columns": json.dumps(list(self.columns))}
        with atomic_write(path) as tmp:
            save_file(arrays, str(tmp), metadata=meta)
        write_text(path.with_suffix(".sha256"), sha256_file(path) + "\n")
        stats = {c: {"valid": float(np.isfinite(v).mean()), "mean": float(np.nanmean(v)),
                     "std": float(np.nanstd(v))} for c, v in self.labels.items()}
        write_text(path.with_suffix(".json"), json.dumps(
            {"faces": len(self), **self.meta, **(info or {}), "columns": stats}, indent=1))
        return path


ASSETS = Path(__file__).resolve().parents[1] / "assets" / "faceset"


def list_facesets() -> list[str]:
    """Names of the face sets that ship with stylelab (e.g. ``mobilestylegan-ffhq-psi1``)."""
    return sorted(p.stem for p in ASSETS.glob("*.safetensors"))


def load_faceset(name: str = "mobilestylegan-ffhq-psi1") -> FaceSet:
    """A shipped face set (seeds + labels; W is mapped again from the seeds on demand), its
    sha256 checked first (:class:`~stylelab.cache.CacheError` if it does not match)."""
    path = ASSETS / f"{name}.safetensors"
    if not path.exists():
        raise ValueError(f"unknown face set {name!r}; shipped: {', '.join(list_facesets())} "
                         "(make others with training/make_faceset.py)")
    sidecar = path.with_suffix(".sha256")
    expected = sidecar.read_text().strip() if sidecar.exists() else None
    if sha256_file(path) != expected:
        raise CacheError(f"{path} does not match its checksum {sidecar.name}; reinstall stylelab")
    return FaceSet.load(path)


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safe_open(str(path), "np") as f:
        keys = f.keys()  # safe_open is not iterable
        return {k: f.get_tensor(k) for k in keys}, dict(f.metadata() or {})
