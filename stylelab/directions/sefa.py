"""SeFa (Shen & Zhou 2021): closed-form directions from the style affines.

For the chosen W+ layers, stack every style affine's weight ``A_l: (C_l, w_dim)`` (rows
normalised to unit length, as the reference implementation does) and take the
eigenvectors of ``AᵀA``: the unit W directions that change those layers' styles most.
The affine weight is read as the affine's Jacobian (``affine(e_i) - affine(0)``), so it
works for any generator whose affines are affine maps: MobileStyleGAN's modulation
affines and StyleGAN2's (equalised-lr) ones alike.
"""

from __future__ import annotations

import torch

from ..models.base import StyleGenerator, module_key
from ..models.stylespace import latent_signature
from .base import Direction, DirectionError, check_layers, spread_along


@torch.no_grad()
def affine_weight(G: StyleGenerator, layer_name: str) -> torch.Tensor:
    """``(C, w_dim)`` linear part of the style affine of ``layer_name``."""
    affine = G.affines[module_key(layer_name)]
    eye = torch.eye(G.w_dim, device=G.device)
    zero = torch.zeros(1, G.w_dim, device=G.device)
    return (affine(eye) - affine(zero)).T.double().cpu()


def sefa(G: StyleGenerator, layers: tuple[int, int] | None = None, components: int = 10
         ) -> Direction:
    """Top ``components`` SeFa directions for W+ ``layers`` (start, stop); names
    ``sefa0..``; ``metadata["eigenvalues"]``; the Direction's ``layers`` is that range."""
    start, stop = check_layers(G, layers)
    if not 1 <= components <= G.w_dim:
        raise DirectionError(f"components must be in 1..{G.w_dim}, got {components}")
    chosen = [s.name for s in G.style_layers if start <= s.w_index < stop]
    weight = torch.cat([affine_weight(G, name) for name in chosen])
    weight = weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
    values, vectors = torch.linalg.eigh(weight.T @ weight)
    order = values.argsort(descending=True)[:components]
    vectors = vectors[:, order].T
    signs = torch.sign(vectors.gather(1, vectors.abs().argmax(1, keepdim=True)))
    # a unit W direction; strength 1 = 3 of W's per-dimension spreads along it is the
    # usual SeFa slider range, so scale by the data's spread along each vector
    spread = spread_along(G, vectors * signs)
    return Direction(names=[f"sefa{i}" for i in range(len(order))],
                     vectors=(vectors * signs).float(), scales=spread, space="w",
                     model=G.model_name, method="sefa", signature=latent_signature(G, "w"),
                     layers=(start, stop),
                     metadata={"eigenvalues": values[order].tolist(), "style_layers": chosen})



