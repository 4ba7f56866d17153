"""StyleFlow (Abdal et al., SIGGRAPH/TOG 2021): attribute-conditioned editing with a
conditional continuous normalizing flow (CNF) between W and a Gaussian.

The flow maps a latent ``w`` (W, 512-D) at time 0 to ``z`` at time ``T`` by integrating
``dw/dt = f(w, t, a)``, where ``a`` is the face's attribute vector (age, gender, smile, yaw,
...; :data:`ATTRIBUTES`). ``f`` is a stack of concat-squash layers (FFJORD's, as in the
paper): ``h -> (W h + b) * sigmoid(G [t, a]) + H [t, a]`` with tanh between layers.
Integrating backwards under other attributes is an edit::

    z = flow.to_z(w, a_now)          # the face's code, free of its attributes
    w2 = flow.to_w(z, a_target)      # the same code under the requested attributes

Training maximises ``log p(w | a) = log N(z; 0, I) + integral of tr(df/dw)`` (the trace by
Hutchinson's estimator, Rademacher probes). Latents and attributes are standardised inside the
model (buffers), so callers use natural units: age in years, yaw in degrees, smile on the
landmark measure's scale. The ODE is solved by torchdiffeq (``odeint``, or
``odeint_adjoint`` with ``adjoint=True``; at 512-D and CPU batch sizes the direct backward
pass is cheaper than the adjoint solve, so training defaults to it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

#: the default conditioning attributes (face-set columns), natural units
ATTRIBUTES = ("age", "gender", "smile", "yaw", "pitch", "eye_openness", "mouth_open",
              "skin_luma")


@dataclass(frozen=True)
class FlowConfig:
    """``hidden``/``blocks``: width and number of concat-squash layers; ``time``: T;
    ``method``/``rtol``/``atol``: the solver for edits and sampling (adaptive dopri5);
    ``train_method``/``train_steps``: the fixed-step solver used in training."""

    w_dim: int = 512
    attributes: tuple[str, ...] = ATTRIBUTES
    hidden: int = 512
    blocks: int = 4
    time: float = 1.0
    method: str = "dopri5"
    rtol: float = 1e-5
    atol: float = 1e-5
    train_method: str = "rk4"
    train_steps: int = 8
    adjoint: bool = False

    def to_dict(self) -> dict:
        return asdict(self) | {"attributes": list(self.attributes)}

    @classmethod
    def from_dict(cls, data: Mapping) -> FlowConfig:
        return cls(**{**data, "attributes": tuple(data["attributes"])})


class ConcatSquashLinear(nn.Module):
    """``x -> (W x + b) * sigmoid(G c + g) + H c`` with context ``c = [t, attributes]``."""

    def __init__(self, dim_in: int, dim_out: int, dim_ctx: int) -> None:
        super().__init__()
        self.layer = nn.Linear(dim_in, dim_out)
        self.gate = nn.Linear(dim_ctx, dim_out)
        self.bias = nn.Linear(dim_ctx, dim_out, bias=False)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return self.layer(x) * torch.sigmoid(self.gate(ctx)) + self.bias(ctx)


class ODEFunc(nn.Module):
    """``f(t, w, a)``; with ``probe`` set, also Hutchinson's ``-e^T (df/dw) e`` (the change
    of log-density). The attributes ride along in the ODE state with zero derivative."""

    def __init__(self, config: FlowConfig) -> None:
        super().__init__()
        dims = [config.w_dim] + [config.hidden] * (config.blocks - 1) + [config.w_dim]
        ctx = 1 + len(config.attributes)
        self.layers = nn.ModuleList(ConcatSquashLinear(a, b, ctx) for a, b in zip(dims, dims[1:]))
        self.probe: torch.Tensor | None = None
        self.evaluations = 0

    def velocity(self, t: torch.Tensor, w: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        ctx = torch.cat([t.expand(w.shape[0], 1).to(w), attrs], 1)
        h = w
        for i, layer in enumerate(self.layers):
            h = layer(h, ctx)
            if i < len(self.layers) - 1:
                h = torch.tanh(h)
        return h

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple:
        self.evaluations += 1
        if self.probe is None:
            w, attrs = state
            return self.velocity(t, w, attrs), torch.zeros_like(attrs)
        w, attrs, _ = state
        with torch.enable_grad():
            w = w if w.requires_grad else w.requires_grad_(True)
            dw = self.velocity(t, w, attrs)
            vjp = torch.autograd.grad(dw, w, self.probe, create_graph=True)[0]
        div = (vjp * self.probe).sum(1, keepdim=True)
        return dw, torch.zeros_like(attrs), -div


class StyleFlow(nn.Module):
    """The conditional CNF on W with its standardisation buffers (module doc)."""

    def __init__(self, config: FlowConfig = FlowConfig(),
                 stats: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.config = config
        self.func = ODEFunc(config)
        n = len(config.attributes)
        stats = stats or {}
        self.register_buffer("w_mean", stats.get("w_mean", torch.zeros(config.w_dim)).float())
        self.register_buffer("w_std", stats.get("w_std", torch.ones(config.w_dim)).float())
        self.register_buffer("a_mean", stats.get("a_mean", torch.zeros(n)).float())
        self.register_buffer("a_std", stats.get("a_std", torch.ones(n)).float())

    # --------------------------------------------------------------- attributes
    def attribute_tensor(self, attrs: Mapping[str, float | torch.Tensor] | torch.Tensor,
                         n: int = 1) -> torch.Tensor:
        """``{name: value or (N,)}`` (every name of :data:`FlowConfig.attributes`) or an
        ``(N, A)`` tensor in natural units -> standardised ``(N, A)``."""
        if isinstance(attrs, torch.Tensor):
            a = attrs.float()
        else:
            missing = [k for k in self.config.attributes if k not in attrs]
            if missing:
                raise ValueError(f"missing attributes {missing}; the flow needs "
                                 f"{', '.join(self.config.attributes)}")
            a = torch.stack([torch.as_tensor(attrs[k], dtype=torch.float32).reshape(-1)
                             .expand(n) for k in self.config.attributes], 1)
        if a.ndim != 2 or a.shape[1] != len(self.config.attributes):
            raise ValueError(f"attributes must be (N, {len(self.config.attributes)}), "
                             f"got {tuple(a.shape)}")
        if not torch.isfinite(a).all():
            raise ValueError("attribute values must be finite numbers")
        return ((a.to(self.a_mean.device) - self.a_mean) / self.a_std)

    # ----------------------------------------------------------------- solving
    def _solve(self, state: tuple, t0: float, t1: float, train: bool) -> tuple:
        from torchdiffeq import odeint, odeint_adjoint

        c = self.config
        times = torch.tensor([t0, t1], device=state[0].device)
        solve = odeint_adjoint if c.adjoint else odeint
        kwargs = {"adjoint_params": tuple(self.func.parameters())} if c.adjoint else {}
        if train:
            opts = {"step_size": abs(t1 - t0) / c.train_steps}
            out = solve(self.func, state, times, method=c.train_method, options=opts, **kwargs)
        else:
            out = solve(self.func, state, times, method=c.method, rtol=c.rtol, atol=c.atol,
                        **kwargs)
        return tuple(s[-1] for s in out)

    def to_z(self, w: torch.Tensor, attrs) -> torch.Tensor:
        """``w (N, w_dim)`` under ``attrs`` -> ``z (N, w_dim)`` (time 0 -> T)."""
        a = self.attribute_tensor(attrs, w.shape[0])
        x = (w.float() - self.w_mean) / self.w_std
        self.func.probe = None
        return self._solve((x, a), 0.0, self.config.time, train=False)[0]

    def to_w(self, z: torch.Tensor, attrs) -> torch.Tensor:
        """``z (N, w_dim)`` under ``attrs`` -> ``w (N, w_dim)`` (time T -> 0)."""
        a = self.attribute_tensor(attrs, z.shape[0])
        self.func.probe = None
        x = self._solve((z.float(), a), self.config.time, 0.0, train=False)[0]
        return x * self.w_std + self.w_mean

    def log_prob(self, w: torch.Tensor, attrs, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """``log p(w | a)`` per latent ``(N,)`` of the standardised latents (nats), by the
        training solver and one Rademacher probe (unbiased, noisy): the training objective."""
        a = self.attribute_tensor(attrs, w.shape[0])
        x = (w.float() - self.w_mean) / self.w_std
        self.func.probe = torch.randint(0, 2, x.shape, generator=generator,
                                        device=x.device).float() * 2 - 1
        try:
            z, _, delta = self._solve((x, a, torch.zeros(x.shape[0], 1, device=x.device)),
                                      0.0, self.config.time, train=True)
        finally:
            self.func.probe = None
        log_pz = -0.5 * (z.square().sum(1) + z.shape[1] * math.log(2 * math.pi))
        return log_pz - delta[:, 0]

    # ----------------------------------------------------------------- editing
    @torch.no_grad()
    def sample(self, attrs, n: int = 1, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """``n`` latents ``(n, w_dim)`` drawn under ``attrs`` (z ~ N(0, I))."""
        z = torch.randn(n, self.config.w_dim, generator=generator).to(self.w_mean.device)
        return self.to_w(z, attrs)

    @torch.no_grad()
    def edit(self, w: torch.Tensor, current, target) -> torch.Tensor:
        """``w``: W ``(N, w_dim)`` or W+ ``(N, L, w_dim)`` (every layer code edited as a
        sample, as StyleFlow does for inverted photos) with ``current`` attributes -> the same
        codes under ``target``. Attributes equal to ``current`` give ``w`` back (up to the
        solver's tolerance)."""
        shape = w.shape
        flat = w.reshape(-1, shape[-1])
        reps = flat.shape[0] // shape[0]
        now = self.attribute_tensor(current, shape[0]).repeat_interleave(reps, 0)
        new = self.attribute_tensor(target, shape[0]).repeat_interleave(reps, 0)
        z = self.to_z(flat, now * self.a_std + self.a_mean)
        return self.to_w(z, new * self.a_std + self.a_mean).reshape(shape).to(w.dtype)


@dataclass
class FlowEdit:
    """What :func:`flow_edit` returns: the edited latent and the attributes it used."""

    latent: torch.Tensor
    current: dict[str, float]
    target: dict[str, float]
    changed: list[str] = field(default_factory=list)


def flow_edit(flow: StyleFlow, w: torch.Tensor, current: Mapping[str, float],
              changes: Mapping[str, float], layers: Sequence[int] | None = None) -> FlowEdit:
    """Set ``changes`` (natural units) on a face with measured ``current`` attributes.
    ``layers``: W+ entries to take from the edit (default: all); ``w`` W or W+ ``(1, ...)``.
    Sequential edits: pass the previous result's ``target`` as ``current``."""
    unknown = set(changes) - set(flow.config.attributes)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}; the flow knows "
                         f"{', '.join(flow.config.attributes)}")
    target = {**current, **{k: float(v) for k, v in changes.items()}}
    edited = flow.edit(w, dict(current), target)
    if layers is not None and w.ndim == 3:
        keep = torch.zeros(w.shape[1], dtype=torch.bool)
        keep[list(layers)] = True
        edited = torch.where(keep[None, :, None].to(w.device), edited, w)
    return FlowEdit(edited, dict(current), target,
                    [k for k in changes if float(changes[k]) != float(current.get(k, math.nan))])
