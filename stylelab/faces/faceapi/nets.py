"""face-api.js' age/gender and expression networks as readable PyTorch modules.

Re-implemented from face-api.js (MIT licence, (c) 2018 Vincent Mühler,
https://github.com/justadudewhohacks/face-api.js): ``src/xception/TinyXception.ts``,
``src/ageGenderNet/AgeGenderNet.ts``, ``src/faceFeatureExtractor/FaceFeatureExtractor.ts``,
``src/faceExpressionNet/FaceExpressionNet.ts`` and ``src/common/depthwiseSeparableConv.ts``.
The weights are the project's published TF.js files, converted by :func:`tfjs_to_torch`.

Both nets take ``(N, 3, 112, 112)`` RGB in pixel units [0, 255] (face-api's
``NetInput.toBatchTensor(112)``: the face crop padded to a centred square with
black and resized) and subtract face-api's mean RGB themselves. TensorFlow's
``'same'`` padding is reproduced exactly: with stride 2 on an even input it pads
one pixel on the bottom/right only (:func:`pad_same`), and max pooling pads with
``-inf``.

Tensor names mirror the TF.js manifests: ``entry_flow/reduction_block_0/separable_conv0/
depthwise_filter`` is ``entry_flow.reduction_block_0.separable_conv0.depthwise.weight``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN_RGB = (122.782, 117.001, 104.298)  # face-api's mean, pixel units
INPUT_SIZE = 112


def pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad ``x`` (N, C, H, W) like TensorFlow ``padding='same'``: the odd pixel goes bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: W then H
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class Conv(nn.Module):
    """Conv2d with bias and TF 'same' padding; TF ``filters`` [kh, kw, in, out] -> ``weight``."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.stride, self.kernel = stride, kernel
        self.weight = nn.Parameter(torch.zeros(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel, self.stride)
        return F.conv2d(x, self.weight, self.bias, stride=self.stride)


class SeparableConv(nn.Module):
    """``tf.separableConv2d`` (depthwise 3x3 with stride, then pointwise 1x1) plus bias."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.depthwise(pad_same(x, 3, self.stride))
        return self.pointwise(x) + self.bias[:, None, None]


def normalize(x: torch.Tensor, divisor: float) -> torch.Tensor:
    """(N, 3, H, W) pixels in [0, 255] -> ``(x - MEAN_RGB) / divisor`` (face-api's ``normalize``)."""
    mean = x.new_tensor(MEAN_RGB)[:, None, None]
    return (x - mean) / divisor


# --------------------------------------------------------------------- TinyXception + age/gender


class ReductionBlock(nn.Module):
    """Two separable convs, 3x3/2 max pool, plus a strided 1x1 ``expansion_conv`` shortcut."""

    def __init__(self, c_in: int, c_out: int, activate_input: bool = True):
        super().__init__()
        self.activate_input = activate_input
        self.separable_conv0 = SeparableConv(c_in, c_out)
        self.separable_conv1 = SeparableConv(c_out, c_out)
        self.expansion_conv = Conv(c_in, c_out, kernel=1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(x) if self.activate_input else x
        out = self.separable_conv1(F.relu(self.separable_conv0(out)))
        out = F.max_pool2d(pad_same(out, 3, 2, value=float("-inf")), 3, 2)
        return out + self.expansion_conv(x)


class MainBlock(nn.Module):
    """Three (relu, separable conv) pairs with an identity shortcut."""

    def __init__(self, channels: int):
        super().__init__()
        self.separable_conv0 = SeparableConv(channels, channels)
        self.separable_conv1 = SeparableConv(channels, channels)
        self.separable_conv2 = SeparableConv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.separable_conv0(F.relu(x))
        out = self.separable_conv1(F.relu(out))
        out = self.separable_conv2(F.relu(out))
        return out + x


class EntryFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = Conv(3, 32, stride=2)
        self.reduction_block_0 = ReductionBlock(32, 64, activate_input=False)
        self.reduction_block_1 = ReductionBlock(64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction_block_1(self.reduction_block_0(F.relu(self.conv_in(x))))


class ExitFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.reduction_block = ReductionBlock(128, 256)
        self.separable_conv = SeparableConv(256, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.separable_conv(self.reduction_block(x)))


class TinyXception(nn.Module):
    """(N, 3, 112, 112) pixels [0, 255] -> (N, 512, 7, 7) features (normalised by 256, as upstream)."""

    def __init__(self, num_main_blocks: int = 2):
        super().__init__()
        self.entry_flow = EntryFlow()
        self.middle_flow = nn.Module()
        for i in range(num_main_blocks):
            self.middle_flow.add_module(f"main_block_{i}", MainBlock(128))
        self.exit_flow = ExitFlow()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry_flow(normalize(x, 256.0))
        for block in self.middle_flow.children():
            x = block(x)
        return self.exit_flow(x)


class AgeGenderNet(nn.Module):
    """face-api's AgeGenderNet: TinyXception(2), 7x7 average pool, two linear heads.

    ``forward`` returns ``(age, gender_logits)``: age (N,) in years (a plain
    regression, unclamped) and logits (N, 2) ordered ``(male, female)``.
    """

    def __init__(self):
        super().__init__()
        self.backbone = TinyXception(2)
        self.fc = nn.Module()
        self.fc.age = nn.Linear(512, 1)
        self.fc.gender = nn.Linear(512, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.backbone(x)
        pooled = F.avg_pool2d(feats, 7, 2).flatten(1)  # 'valid' 7x7/2 on 7x7 -> 1x1
        return self.fc.age(pooled)[:, 0], self.fc.gender(pooled)


# --------------------------------------------------------------------- FaceFeatureExtractor + expressions


class DenseBlock(nn.Module):
    """DenseBlock4: a strided conv0, then three separable convs fed the relu of all previous sums."""

    def __init__(self, c_in: int, c_out: int, first: bool = False):
        super().__init__()
        self.conv0 = Conv(c_in, c_out, stride=2) if first else SeparableConv(c_in, c_out, stride=2)
        self.conv1 = SeparableConv(c_out, c_out)
        self.conv2 = SeparableConv(c_out, c_out)
        self.conv3 = SeparableConv(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + out2 + out3))
        return F.relu(out1 + out2 + out3 + out4)


class FaceFeatureExtractor(nn.Module):
    """(N, 3, 112, 112) pixels [0, 255] -> (N, 256) pooled features (normalised by 255, as upstream)."""

    def __init__(self):
        super().__init__()
        self.dense0 = DenseBlock(3, 32, first=True)
        self.dense1 = DenseBlock(32, 64)
        self.dense2 = DenseBlock(64, 128)
        self.dense3 = DenseBlock(128, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize(x, 255.0)
        x = self.dense3(self.dense2(self.dense1(self.dense0(x))))  # 112 -> 7
        return F.avg_pool2d(x, 7, 2).flatten(1)


class FaceExpressionNet(nn.Module):
    """face-api's FaceExpressionNet: FaceFeatureExtractor + linear -> (N, 7) logits (see ``EXPRESSIONS``)."""

    def __init__(self):
        super().__init__()
        self.backbone = FaceFeatureExtractor()
        self.fc = nn.Linear(256, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x))


# --------------------------------------------------------------------- TF.js tensors -> state dict

def _convert_one(name: str, value: np.ndarray) -> tuple[str, torch.Tensor]:
    """One TF.js tensor -> (torch parameter suffix path, tensor in torch layout)."""
    path, leaf = name.rsplit("/", 1)
    path = path.replace("/", ".")
    t = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if leaf == "filters" and t.ndim == 4:  # [kh, kw, in, out] -> [out, in, kh, kw]
        return f"{path}.weight", t.permute(3, 2, 0, 1)
    if leaf == "depthwise_filter" and t.ndim == 4:  # [kh, kw, C, 1] -> [C, 1, kh, kw]
        return f"{path}.depthwise.weight", t.permute(2, 3, 0, 1)
    if leaf == "pointwise_filter" and t.ndim == 4:  # [1, 1, in, out] -> [out, in, 1, 1]
        return f"{path}.pointwise.weight", t.permute(3, 2, 0, 1)
    if leaf == "weights" and t.ndim == 2:  # fully connected [in, out] -> [out, in]
        return f"{path}.weight", t.t()
    if leaf == "bias" and t.ndim == 1:
        return f"{path}.bias", t
    raise KeyError(f"TF.js tensor {name!r} with shape {list(value.shape)} has no PyTorch mapping")


def tfjs_to_torch(net: nn.Module, weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map every TF.js tensor of ``weights`` onto ``net``'s state dict (torch layouts).

    Tensors under ``fc/`` map to ``fc.*``; all others to ``backbone.*``. Raises
    ``KeyError`` listing any TF.js tensor without a parameter, any parameter
    without a tensor, and any shape mismatch: nothing is silently dropped.
    """
    expected = {k: v.shape for k, v in net.state_dict().items()}
    state: dict[str, torch.Tensor] = {}
    for name, value in weights.items():
        key, tensor = _convert_one(name, value)
        key = key if name.startswith("fc/") else f"backbone.{key}"
        state[key] = tensor.contiguous()
    unmapped = sorted(k for k in state if k not in expected)
    missing = sorted(k for k in expected if k not in state)
    wrong = sorted(k for k in state if k in expected and state[k].shape != expected[k])
    if unmapped or missing or wrong:
        raise KeyError(
            f"{type(net).__name__}: TF.js weights do not match the architecture; "
            f"unmapped TF.js tensors: {unmapped or 'none'}; missing parameters: {missing or 'none'}; "
            f"shape mismatches: {[(k, list(state[k].shape), list(expected[k])) for k in wrong] or 'none'}"
        )
    return state
