"""CLCAE's two cross-attention blocks (Liu et al., CVPR 2023), as written and non-degenerate.

**W+ cross-attention** refines the coarse per-layer codes ``dw_i`` (from map2style) around the
predicted ``w``: ``Q = w W_Q``, ``K = dw_i W_K``, ``V = dw_i W_V`` (multi-head) and
``w+_i = w + Attention(Q, K, V) W_O``.

**F cross-attention** injects ``w`` into the finest pyramid level ``T3``: ``Q = T3 W_Q`` (every
pixel a query), ``K = w W_K``, ``V = w W_V``; ``f = CNN[Attention + T3]``, a small CNN bringing
the sum to the generator's feature tensor ``(N, out_ch, out_res, out_res)`` at one F layer.

In the paper (and its official code) each block attends over ONE key/value token: ``dw_i``
for layer ``i``, ``w`` for every pixel. Softmax over one token is identically 1, so the
"attention" is exactly the value projection: ``w+_i = w + dw_i W_V W_O`` and the F block adds
the same vector ``w W_V W_O`` to every pixel (``degenerate=True``, "paper"; :meth:`value_path`
is that projection, and the tests check the equality). With ``degenerate=False`` ("tokens")
the keys and values are all W+ layer tokens, each with a learnt layer embedding: layer ``i``
of W+ queries with ``w + e_i`` over ``{dw_j + e_j}``, and each pixel of T3 over
``{w+_j + e_j}``, so the weights depend on the input.

All latents here are offsets from ``G.w_avg`` (the encoder adds it back). ``W_O`` of the W+
block starts at zero, so an untrained block returns ``w+_i = w`` (W+ starts in W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("paper", "tokens")


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         heads: int) -> torch.Tensor:
    """Scaled dot-product attention, written out: ``q (B, Lq, D)``, ``k, v (B, Lk, D)`` ->
    ``(B, Lq, D)``, softmax over the ``Lk`` keys of each of ``heads`` heads of ``D / heads``."""
    b, lq, d = q.shape
    lk, hd = k.shape[1], d // heads
    qh = q.reshape(b, lq, heads, hd).transpose(1, 2)  # (B, h, Lq, hd)
    kh = k.reshape(b, lk, heads, hd).transpose(1, 2)
    vh = v.reshape(b, lk, heads, hd).transpose(1, 2)
    weights = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(hd), dim=-1)  # (B,h,Lq,Lk)
    return (weights @ vh).transpose(1, 2).reshape(b, lq, d)


def _check_heads(dim: int, heads: int) -> None:
    if heads < 1 or dim % heads:
        raise ValueError(f"{heads} heads do not divide {dim} channels")


class WPlusCrossAttention(nn.Module):
    """``forward(w (N, D), codes (N, L, D)) -> w+ (N, L, D)``: ``w+_i = w + attn_i W_O``.

    ``degenerate=True``: layer ``i`` attends over its own code only (the paper);
    ``False``: over all ``L`` codes (``num_ws`` is then needed for the layer embeddings).
    """

    def __init__(self, w_dim: int, heads: int = 4, degenerate: bool = True,
                 num_ws: int | None = None):
        super().__init__()
        _check_heads(w_dim, heads)
        self.w_dim, self.heads, self.degenerate = w_dim, heads, degenerate
        self.q, self.k, self.v, self.out = (nn.Linear(w_dim, w_dim) for _ in range(4))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        if not degenerate:
            if not num_ws:
                raise ValueError("non-degenerate W+ attention needs num_ws (layer embeddings)")
            self.layer_embed = nn.Parameter(torch.randn(num_ws, w_dim) * 0.02)

    def forward(self, w: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        n, layers, d = codes.shape
        if w.shape != (n, d):
            raise ValueError(f"w must be (N, {d}) for codes {tuple(codes.shape)}, got "
                             f"{tuple(w.shape)}")
        if self.degenerate:  # one key/value token per layer: fold the layers into the batch
            q = self.q(w)[:, None].expand(n, layers, d).reshape(n * layers, 1, d)
            k = self.k(codes).reshape(n * layers, 1, d)
            v = self.v(codes).reshape(n * layers, 1, d)
            attn = multi_head_attention(q, k, v, self.heads).view(n, layers, d)
        else:
            e = self.layer_embed[:layers]
            attn = multi_head_attention(self.q(w[:, None] + e), self.k(codes + e),
                                        self.v(codes), self.heads)
        return w[:, None] + self.out(attn)

    def value_path(self, w: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """``w + codes W_V W_O`` (N, L, D): what the degenerate block computes."""
        return w[:, None] + self.out(self.v(codes))


class FCrossAttention(nn.Module):
    """``forward(t3 (N, C, H, W), w (N, D), wplus (N, L, D) | None) -> f (N, out_ch, out_res,
    out_res)`` (unbounded, the scale of the generator's features).

    ``CNN = bilinear resize to out_res, conv3x3(C -> hidden) + LeakyReLU, conv1x1(hidden ->
    out_ch)``. ``zero_out``: the last conv starts at zero (for a residual use: f = G_k(w+) +
    this). ``degenerate=False`` needs ``wplus`` at call time and ``num_ws`` here.
    """

    def __init__(self, t3_ch: int, w_dim: int, out_ch: int, out_res: int, heads: int = 4,
                 degenerate: bool = True, num_ws: int | None = None, hidden: int | None = None,
                 zero_out: bool = False):
        super().__init__()
        _check_heads(t3_ch, heads)
        hidden = int(hidden or t3_ch)
        self.t3_ch, self.w_dim, self.out_ch, self.out_res = t3_ch, w_dim, out_ch, out_res
        self.heads, self.degenerate = heads, degenerate
        self.q, self.out = nn.Linear(t3_ch, t3_ch), nn.Linear(t3_ch, t3_ch)
        self.k, self.v = nn.Linear(w_dim, t3_ch), nn.Linear(w_dim, t3_ch)
        if not degenerate:
            if not num_ws:
                raise ValueError("non-degenerate F attention needs num_ws (layer embeddings)")
            self.layer_embed = nn.Parameter(torch.randn(num_ws, w_dim) * 0.02)
        self.conv1 = nn.Conv2d(t3_ch, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, out_ch, 1)
        if zero_out:
            nn.init.zeros_(self.conv2.weight)
            nn.init.zeros_(self.conv2.bias)

    def attention(self, t3: torch.Tensor, w: torch.Tensor,
                  wplus: torch.Tensor | None = None) -> torch.Tensor:
        """The attention output ``(N, C, H, W)``, before it is added to ``t3``."""
        n, c, h, wd = t3.shape
        if c != self.t3_ch:
            raise ValueError(f"t3 must be (N, {self.t3_ch}, H, W), got {tuple(t3.shape)}")
        pixels = t3.flatten(2).transpose(1, 2)  # (N, HW, C)
        if self.degenerate:
            keys = values = w[:, None]  # (N, 1, D)
        else:
            if wplus is None:
                raise ValueError("non-degenerate F attention attends over W+: give wplus")
            values = wplus
            keys = wplus + self.layer_embed[: wplus.shape[1]]
        attn = multi_head_attention(self.q(pixels), self.k(keys), self.v(values), self.heads)
        return self.out(attn).transpose(1, 2).reshape(n, c, h, wd)

    def forward(self, t3: torch.Tensor, w: torch.Tensor,
                wplus: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention(t3, w, wplus) + t3
        if x.shape[-2:] != (self.out_res, self.out_res):
            x = F.interpolate(x, size=(self.out_res, self.out_res), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.out_res)
        return self.conv2(F.leaky_relu(self.conv1(x), 0.2))

    def value_path(self, t3: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``w W_V W_O`` broadcast to every pixel (N, C, H, W): the degenerate attention."""
        return self.out(self.v(w))[:, :, None, None].expand_as(t3)
