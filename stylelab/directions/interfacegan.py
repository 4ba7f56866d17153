"""InterFaceGAN (Shen et al. 2020): a linear SVM per attribute in W; its unit normal is the
edit direction and the signed distance to the hyperplane is the attribute score.

Labels are continuous measures (see :mod:`.measures`); the top and bottom ``fraction`` of
the valid samples become the positive and negative class, as in the paper. Conditional
manipulation (:func:`condition`) projects the normals of other attributes out of a
direction, so editing it leaves their scores unchanged to first order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.base import StyleGenerator
from ..models.stylespace import latent_signature
from .base import Direction, DirectionError
from .measures import MeasuredSamples


@dataclass(frozen=True)
class InterFaceGANConfig:
    """``fraction``: top/bottom share of samples used as classes; ``C``: SVM regulariser;
    ``val_fraction``: held-out share for the reported accuracy; ``min_per_class``: fewer
    labelled samples than this per class is an error."""

    fraction: float = 0.3
    # C applies to W divided by its global RMS spread, so it does not depend on W's scale.
    # 0.001 was chosen by split-half stability on 3000 labelled FFHQ faces (cosine between
    # normals fitted on two disjoint halves; smile / age): C 0.001: 0.83 / 0.76, 0.01:
    # 0.67 / 0.51, 1.0: 0.52 / 0.41. Strong regularisation suits a few thousand samples.
    C: float = 0.001
    val_fraction: float = 0.2
    min_per_class: int = 20
    seed: int = 0


def split_classes(scores: np.ndarray, fraction: float, min_per_class: int, name: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top and bottom ``fraction`` of the finite ``scores``."""
    valid = np.flatnonzero(np.isfinite(scores))
    k = int(len(valid) * fraction)
    if k < min_per_class:
        raise DirectionError(
            f"too few labelled samples for {name!r}: {len(valid)} valid, so {k} per class at "
            f"fraction {fraction}; need at least {min_per_class} per class. Label more faces.")
    order = valid[np.argsort(scores[valid], kind="stable")]
    if scores[order[-k]] <= scores[order[k - 1]]:
        raise DirectionError(f"{name!r} does not vary enough over the samples to split "
                             "them into two classes")
    return order[-k:], order[:k]


def fit_linear_boundary(w: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                        config: InterFaceGANConfig) -> tuple[np.ndarray, float, float]:
    """Linear SVM on ``w[pos]`` vs ``w[neg]`` -> (unit normal (D,), intercept, val accuracy)."""
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(config.seed)
    x = np.concatenate([w[pos], w[neg]]).astype(np.float64)
    x = (x - x.mean(0)) / max(float(x.std()), 1e-12)  # one global scale: the normal is unchanged
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    perm = rng.permutation(len(y))
    n_val = int(len(y) * config.val_fraction)
    val, train = perm[:n_val], perm[n_val:]
    svm = LinearSVC(C=config.C, max_iter=20000, dual="auto").fit(x[train], y[train])
    accuracy = float(svm.score(x[val], y[val])) if n_val else float("nan")
    svm = LinearSVC(C=config.C, max_iter=20000, dual="auto").fit(x, y)  # final: all data
    normal = svm.coef_[0] / np.linalg.norm(svm.coef_[0])
    # intercept for raw w: the hyperplane through the point the SVM puts at distance 0
    centre = np.concatenate([w[pos], w[neg]]).mean(0)
    offset = svm.decision_function(np.zeros((1, x.shape[1])))[0] / np.linalg.norm(svm.coef_[0])
    scale = float(np.concatenate([w[pos], w[neg]]).std())
    intercept = offset * scale - float(centre @ normal)
    return normal, intercept, accuracy


def interfacegan(G: StyleGenerator, samples: MeasuredSamples, attributes: list[str],
                 config: InterFaceGANConfig = InterFaceGANConfig()) -> Direction:
    """One boundary normal per attribute: ``Direction`` in W with ``scales`` = the spread
    of the samples' signed distances (strength 1 = one standard deviation)."""
    if samples.w.shape[1] != G.w_dim:
        raise DirectionError(f"samples are {samples.w.shape[1]}-D, the generator's W is "
                             f"{G.w_dim}-D")
    normals, scales, info = [], [], {}
    for name in attributes:
        if name not in samples.measures:
            raise DirectionError(f"no measure {name!r} in the samples; "
                                 f"have {', '.join(samples.measures)}")
        pos, neg = split_classes(samples.measures[name], config.fraction,
                                 config.min_per_class, name)
        normal, intercept, accuracy = fit_linear_boundary(samples.w, pos, neg, config)
        distance = samples.w @ normal + intercept
        normals.append(normal)
        scales.append(float(distance.std()))
        info[name] = {"intercept": intercept, "val_accuracy": accuracy,
                      "per_class": len(pos), "samples": int(np.isfinite(
                          samples.measures[name]).sum())}
    return Direction(names=list(attributes), vectors=torch.tensor(np.stack(normals)),
                     scales=torch.tensor(scales), space="w", model=G.model_name,
                     method="interfacegan", signature=latent_signature(G, "w"),
                     metadata={"boundaries": info, "config": config.__dict__,
                               "psi": samples.psi})


def distance(direction: Direction, name: str, w: torch.Tensor) -> torch.Tensor:
    """Signed distance of ``w: (N, w_dim)`` to the ``name`` hyperplane (the attribute score)."""
    intercept = direction.metadata.get("boundaries", {}).get(name, {}).get("intercept", 0.0)
    return w @ direction.vector(name).to(w) + intercept


def project_out(vector: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """``vector (D,)`` minus its projection on the span of ``others (M, D)``, unit norm."""
    basis = torch.linalg.qr(others.double().T).Q  # (D, M) orthonormal
    v = vector.double()
    v = v - basis @ (basis.T @ v)
    norm = v.norm()
    if norm < 1e-6:
        raise DirectionError("the direction lies in the span of the conditions; "
                             "nothing is left to edit")
    return (v / norm).float()


def condition(direction: Direction, name: str, conditions: list[str],
              condition_set: Direction | None = None) -> Direction:
    """Conditional manipulation: ``name``'s normal with the ``conditions``' normals (from
    ``condition_set``, default the same set) projected out. Returns a one-vector Direction
    named ``"name|cond1,cond2"`` whose scale keeps strength 1 = one spread of ``name``."""
    others = condition_set or direction
    if not conditions:
        return direction.select([name])
    if name in conditions:
        raise DirectionError(f"cannot condition {name!r} on itself")
    others.check_compatible(direction)
    basis = torch.stack([others.vector(c) for c in conditions])
    primary = direction.vector(name)
    vector = project_out(primary, basis)
    # keep the edit's effect on the primary score: strength 1 moves it by one spread
    k = direction.index(name)
    gain = float(vector @ primary)
    scale = float(direction.scales[k]) / max(gain, 1e-6)
    return Direction(names=[f"{name}|{','.join(conditions)}"], vectors=vector[None],
                     scales=torch.tensor([scale]), space=direction.space, model=direction.model,
                     method=f"{direction.method}-conditional", signature=direction.signature,
                     layers=direction.layers,
                     metadata={"primary": name, "conditions": list(conditions),
                               "cosine_to_primary": gain})
