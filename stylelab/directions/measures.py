"""Label generated faces with the face measures, the raw material of supervised directions.

:class:`FaceMeasurer` turns FFHQ-aligned images into named scores:

- landmark measures (dlib 68 points): ``smile``, ``mouth_open``, ``eye_openness``, ``yaw``;
- face-api.js nets: ``age`` (years), ``gender`` (probability of male), and the 7
  expression probabilities (``happy``, ``neutral``, ``surprised``, ...).

A face dlib cannot find gets NaN landmark measures. :func:`sample_and_measure` draws
seeded faces and measures them in batches, with a tqdm progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from ..faces.attributes import landmark_attributes
from ..faces.faceapi import EXPRESSIONS, FaceAttributes
from ..images import to_uint8
from ..latents import z_from_seeds
from ..models.base import StyleGenerator

LANDMARK_MEASURES = ("smile", "mouth_open", "eye_openness", "yaw")
NET_MEASURES = ("age", "gender", *EXPRESSIONS)
MEASURES = LANDMARK_MEASURES + NET_MEASURES


class FaceMeasurer:
    """Measures of FFHQ-aligned faces. ``faceapi``: a :class:`FaceAttributes` (default: the
    standard one, which finds or downloads the face-api.js weights)."""

    def __init__(self, faceapi: FaceAttributes | None = None, detector=None):
        self.faceapi = faceapi or FaceAttributes()
        self._detector = detector

    @property
    def detector(self):
        if self._detector is None:
            from ..faces.detect import FaceDetector

            self._detector = FaceDetector(cnn_fallback=False)
        return self._detector

    def landmarks(self, images: torch.Tensor) -> list[np.ndarray | None]:
        """(N, 3, H, W) in [-1, 1] -> per image (68, 2) landmarks or None (no face)."""
        out = []
        for arr in to_uint8(images):
            faces = self.detector.detect(arr)
            out.append(faces[0].landmarks if faces else None)
        return out

    @torch.no_grad()
    def measure(self, images: torch.Tensor, measures: tuple[str, ...] = MEASURES
                ) -> dict[str, np.ndarray]:
        """``images``: (N, 3, H, W) in [-1, 1], FFHQ-aligned. Returns ``{measure: (N,)}``
        float64 arrays (NaN where no face was found)."""
        unknown = set(measures) - set(MEASURES)
        if unknown:
            raise ValueError(f"unknown measures {sorted(unknown)}; valid: {', '.join(MEASURES)}")
        n = images.shape[0]
        out: dict[str, np.ndarray] = {}
        if any(m in LANDMARK_MEASURES for m in measures):
            rows = [landmark_attributes(lm) if lm is not None else None
                    for lm in self.landmarks(images)]
            for m in LANDMARK_MEASURES:
                if m in measures:
                    out[m] = np.array([np.nan if r is None else r[m] for r in rows])
        nets = tuple(k for k, names in (("age_gender", ("age", "gender")),
                                        ("expression", EXPRESSIONS))
                     if any(m in measures for m in names))
        if nets:
            pred = self.faceapi.predict(images, ffhq_aligned=True, nets=nets)
            if "age_gender" in nets:
                out["age"] = pred["age"].double().numpy()
                out["gender"] = pred["gender_male_prob"].double().numpy()
            if "expression" in nets:
                probs = pred["expressions"].double().numpy()
                for i, name in enumerate(EXPRESSIONS):
                    out[name] = probs[:, i]
        return {m: out[m].reshape(n) for m in measures}


@dataclass
class MeasuredSamples:
    """``w: (N, w_dim)`` latents (truncated by ``psi``) and ``measures: {name: (N,)}``."""

    w: np.ndarray
    measures: dict[str, np.ndarray]
    seeds: np.ndarray
    psi: float

    def valid(self, name: str) -> np.ndarray:
        """Boolean mask of samples with a finite ``name`` measure."""
        return np.isfinite(self.measures[name])

    def save(self, path: str | Path) -> None:
        tensors = {"w": self.w.astype(np.float32), "seeds": self.seeds.astype(np.int64),
                   "psi": np.array([self.psi])}
        tensors |= {f"m.{k}": v.astype(np.float64) for k, v in self.measures.items()}
        save_file(tensors, str(path))

    @classmethod
    def load(cls, path: str | Path) -> MeasuredSamples:
        t = load_file(str(path))
        measures = {k[2:]: v for k, v in t.items() if k.startswith("m.")}
        return cls(w=t["w"], measures=measures, seeds=t["seeds"], psi=float(t["psi"][0]))


def sample_and_measure(G: StyleGenerator, n: int, measurer: FaceMeasurer, *,
                       first_seed: int = 0, psi: float = 0.8, size: int = 256,
                       batch_size: int = 16, measures: tuple[str, ...] = MEASURES,
                       progress: bool = True) -> MeasuredSamples:
    """Draw faces from seeds ``first_seed .. first_seed + n - 1`` and measure them."""
    seeds = np.arange(first_seed, first_seed + n)
    ws, rows = [], {m: [] for m in measures}
    with torch.no_grad():
        for start in tqdm(range(0, n, batch_size), desc="label faces", disable=not progress):
            batch = seeds[start:start + batch_size]
            w = G.map(z_from_seeds(batch.tolist(), G.z_dim).to(G.device), psi)
            images = G.synthesis(w, size=G.check_size(size)).cpu()
            for k, v in measurer.measure(images, measures).items():
                rows[k].append(v)
            ws.append(w.cpu().numpy())
    return MeasuredSamples(np.concatenate(ws), {k: np.concatenate(v) for k, v in rows.items()},
                           seeds, psi)
