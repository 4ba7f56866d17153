"""The latent-space contract every stylelab generator implements.

Spaces (shapes for a batch of N):

* Z  ``z: (N, z_dim)``, standard normal.
* W  ``w: (N, w_dim)``, the mapping network's output.
* W+ ``w: (N, num_ws, w_dim)``, one W vector per style layer.
* S  ``styles: dict[name -> (N, channels)]``: the output of every style
  affine (StyleSpace, Wu et al. 2021), named by :attr:`StyleGenerator.style_layers`.
* F  ``features[name]: (N, C, H, W)``: intermediate feature maps named by
  :attr:`StyleGenerator.feature_layers`; synthesis can resume from an edited one.

Images are float tensors ``(N, 3, size, size)`` with values nominally in
[-1, 1] (not clamped). Subclasses implement :meth:`_synthesize` and provide
``mapping`` and ``affines``; everything else is shared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

Styles = dict[str, torch.Tensor]
NOISE_MODES = ("const", "random", "none")


@dataclass(frozen=True)
class StyleLayer:
    """One StyleSpace layer: the affine named ``name`` maps ``w[:, w_index]`` to ``channels`` values."""

    name: str
    channels: int
    w_index: int


@dataclass(frozen=True)
class FeatureLayer:
    """One feature-space (F) layer: ``(N, channels, resolution, resolution)``."""

    name: str
    channels: int
    resolution: int


@dataclass(frozen=True)
class SynthesisOutput:
    """``image``: (N, 3, size, size) in [-1, 1], or None when synthesis stopped early;
    ``features``: the feature maps that were asked for."""

    image: torch.Tensor | None
    features: dict[str, torch.Tensor]


class StyleGenerator(nn.Module, ABC):
    """Base class: mapping, truncation, W/W+/S/F plumbing and size checks.

    Subclasses must set ``z_dim``, ``w_dim``, ``resolution``, ``sizes``,
    ``style_layers``, ``feature_layers``, a ``mapping`` module
    (``(N, z_dim) -> (N, w_dim)``), an ``affines`` ModuleDict keyed by
    :func:`module_key` of each style layer name, and a ``w_avg`` buffer.
    """

    z_dim: int
    w_dim: int
    resolution: int
    sizes: tuple[int, ...]
    style_layers: tuple[StyleLayer, ...]
    feature_layers: tuple[FeatureLayer, ...]
    mapping: nn.Module
    affines: nn.ModuleDict
    w_avg: torch.Tensor
    model_name: str = "custom"  # set by the registry; directions and caches are keyed by it
    default_truncation: float = 0.7  # the registry sets each model's usual psi

    # ------------------------------------------------------------------ shapes
    @property
    def num_ws(self) -> int:
        """Number of W+ entries: one per distinct ``w_index`` of the style layers."""
        return max(layer.w_index for layer in self.style_layers) + 1

    @property
    def device(self) -> torch.device:
        return self.w_avg.device

    def check_size(self, size: int | None) -> int:
        """Resolve ``None`` to the native resolution; raise ValueError for sizes the model cannot produce."""
        if size is None:
            return self.resolution
        if int(size) not in self.sizes:
            raise ValueError(
                f"this model cannot produce {size}px images; choose one of {list(self.sizes)}"
            )
        return int(size)

    def style_layer(self, name: str) -> StyleLayer:
        for layer in self.style_layers:
            if layer.name == name:
                return layer
        raise KeyError(f"unknown style layer {name!r}; valid: {[s.name for s in self.style_layers]}")

    def feature_layer(self, name: str) -> FeatureLayer:
        for layer in self.feature_layers:
            if layer.name == name:
                return layer
        raise KeyError(
            f"unknown feature layer {name!r}; valid: {[f.name for f in self.feature_layers]}"
        )

    # ------------------------------------------------------------- Z -> W -> W+
    def map(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """``z: (N, z_dim)`` -> ``w: (N, w_dim)``, truncated towards ``w_avg`` by ``truncation_psi``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        w = self.mapping(z.to(self.device, torch.float32))
        return self.truncate(w, truncation_psi)

    def sample_w(self, n: int, *, seed: int = 0, truncation_psi: float = 1.0,
                 batch_size: int = 10_000) -> torch.Tensor:
        """``(n, w_dim)`` W of ``n`` Gaussian z drawn from a local generator seeded with ``seed``
        (the caller's global RNG is untouched), mapped ``batch_size`` at a time."""
        gen = torch.Generator().manual_seed(int(seed))
        out = []
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), self.z_dim, generator=gen)
            out.append(self.map(z.to(self.device), truncation_psi))
        return torch.cat(out) if out else torch.zeros(0, self.w_dim, device=self.device)

    def truncate(
        self, w: torch.Tensor, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        """Truncation trick ``w_avg + psi * (w - w_avg)``.

        ``w``: (N, w_dim) or (N, num_ws, w_dim). With ``cutoff``, only W+ entries
        ``< cutoff`` are truncated, and the result is always W+.
        """
        if cutoff is None:
            return self.w_avg.lerp(w, psi) if psi != 1.0 else w
        wp = self.to_wplus(w).clone()
        wp[:, :cutoff] = self.w_avg.lerp(wp[:, :cutoff], psi)
        return wp

    def to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        """(N, w_dim) -> (N, num_ws, w_dim); W+ input is checked and returned as is."""
        if w.ndim == 2 and w.shape[1] == self.w_dim:
            return w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if w.ndim == 3 and w.shape[1:] == (self.num_ws, self.w_dim):
            return w
        raise ValueError(
            f"w must be (N, {self.w_dim}) or (N, {self.num_ws}, {self.w_dim}), got {tuple(w.shape)}"
        )

    def layer_parameters(self) -> dict[str, tuple[str, ...]]:
        """``{style layer name: names of the synthesis parameters it modulates}`` (convolution
        weights, biases, noise strengths; never the style affines or the mapping). Domain
        adaptation trains by these groups; a layer without weights of its own maps to ``()``."""
        names = [n for n, _ in self.named_parameters()]
        out = {}
        for layer in self.style_layers:
            prefix = self._parameter_prefix(layer.name)
            out[layer.name] = tuple(n for n in names if prefix and n.startswith(prefix + "."))
        return out

    def _parameter_prefix(self, layer_name: str) -> str | None:
        """The module path whose parameters style layer ``layer_name`` modulates."""
        raise NotImplementedError(f"{type(self).__name__} does not say which parameters each "
                                  "style layer modulates (implement _parameter_prefix)")

    # ------------------------------------------------------------------ W -> S
    def w_to_s(self, w: torch.Tensor) -> Styles:
        """W or W+ -> StyleSpace: ``{layer name: (N, channels)}`` in layer order."""
        wp = self.to_wplus(w)
        return {
            layer.name: self.affines[module_key(layer.name)](wp[:, layer.w_index])
            for layer in self.style_layers
        }

    def check_styles(self, styles: Mapping[str, torch.Tensor]) -> None:
        for layer in self.style_layers:
            s = styles.get(layer.name)
            if s is None or s.ndim != 2 or s.shape[1] != layer.channels:
                got = None if s is None else tuple(s.shape)
                raise ValueError(
                    f"style {layer.name!r} must be (N, {layer.channels}), got {got}"
                )

    # -------------------------------------------------------------- synthesis
    def synthesis(
        self,
        w: torch.Tensor | Mapping[str, torch.Tensor] | None = None,
        *,
        styles: Mapping[str, torch.Tensor] | None = None,
        size: int | None = None,
        noise_mode: str = "const",
        features_in: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Render images ``(N, 3, size, size)`` in [-1, 1].

        Give either ``w`` (W or W+) or ``styles`` (S; also accepted in place of ``w``,
        so the output of an S edit can be passed straight in). ``features_in`` replaces
        the feature map of one F layer (``{name: (N, C, H, W)}``) and resumes
        synthesis from it. ``noise_mode``: "const" (deterministic, default),
        "random" or "none".
        """
        out = self.synthesize(w, styles=styles, size=size, noise_mode=noise_mode,
                              features_in=features_in)
        assert out.image is not None
        return out.image

    def features(
        self,
        w: torch.Tensor | None = None,
        *,
        layers: Sequence[str],
        styles: Mapping[str, torch.Tensor] | None = None,
        noise_mode: str = "const",
    ) -> dict[str, torch.Tensor]:
        """Feature maps ``{name: (N, C, H, W)}`` of the F layers named in ``layers``.
        Synthesis stops after the last one where the architecture allows it."""
        out = self.synthesize(w, styles=styles, noise_mode=noise_mode,
                              return_features=layers, image=False)
        return out.features

    def synthesize(
        self,
        w: torch.Tensor | Mapping[str, torch.Tensor] | None = None,
        *,
        styles: Mapping[str, torch.Tensor] | None = None,
        size: int | None = None,
        noise_mode: str = "const",
        features_in: Mapping[str, torch.Tensor] | None = None,
        return_features: Sequence[str] = (),
        image: bool = True,
    ) -> SynthesisOutput:
        """The general form of :meth:`synthesis` and :meth:`features`."""
        if isinstance(w, Mapping):  # S given positionally: synthesis(styles_dict)
            w, styles = None, w
        if (w is None) == (styles is None):
            raise ValueError("give exactly one of w (W or W+) and styles (S)")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if styles is None:
            styles = self.w_to_s(w.to(self.device))
        self.check_styles(styles)
        for name in list(features_in or {}) + list(return_features):
            self.feature_layer(name)
        if features_in is not None and len(features_in) > 1:
            raise ValueError("features_in may replace one feature layer at a time")
        return self._synthesize(
            dict(styles),
            size=self.check_size(size),
            noise_mode=noise_mode,
            features_in=dict(features_in or {}),
            return_features=tuple(return_features),
            image=image,
        )

    @abstractmethod
    def _synthesize(
        self,
        styles: Styles,
        *,
        size: int,
        noise_mode: str,
        features_in: dict[str, torch.Tensor],
        return_features: tuple[str, ...],
        image: bool,
    ) -> SynthesisOutput:
        """Run synthesis from checked StyleSpace values. See :meth:`synthesize`."""

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, size: int | None = None):
        """``z: (N, z_dim)`` -> images ``(N, 3, size, size)`` in [-1, 1]."""
        return self.synthesis(self.map(z, truncation_psi), size=size)


def module_key(name: str) -> str:
    """ModuleDict keys cannot contain '.', layer names can."""
    return name.replace(".", "_")
