"""Convert the MobileStyleGAN OpenVINO IR (as shipped by PyPI ``random-face``) to a state dict.

The converter follows the data path of the synthesis graph in topological
order and assigns constants by role, so it checks the architecture as it goes:
every modulation, convolution, noise and bias must appear where
:class:`~stylelab.models.mobilestylegan.MobileStyleGAN` expects it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import module_key
from .mobilestylegan import MobileStyleGAN, MobileStyleGANConfig
from .openvino_ir import IRFormatError, IRGraph, IRLayer, read_ir


def topological(graph: IRGraph) -> list[IRLayer]:
    indeg = {k: len(v.inputs) for k, v in graph.layers.items()}
    ready = [k for k, d in indeg.items() if d == 0]
    order = []
    while ready:
        lid = ready.pop()
        order.append(graph.layers[lid])
        for c in graph.consumers(graph.layers[lid]):
            indeg[c.id] -= 1
            if indeg[c.id] == 0:
                ready.append(c.id)
    return order


def _affine(graph: IRGraph, branch: IRLayer) -> tuple[np.ndarray, np.ndarray, float]:
    """The (weight, bias, scale) of the modulation branch ending at ``branch``.

    Walks up the data inputs: [Multiply by a scalar] <- Reshape <- Add(bias) <- MatMul.
    """
    cur, bias, scale = branch, None, 1.0
    for _ in range(16):
        if cur.type == "MatMul":
            if bias is None:
                raise IRFormatError(f"affine {cur.name} has no bias Add")
            return graph.const_input(cur, 1), bias.reshape(-1), scale
        srcs = [graph.producer(cur, p) for p in range(len(cur.inputs))]
        consts = [s for s in srcs if s.value is not None]
        if cur.type == "Multiply" and len(consts) == 1 and consts[0].value.size == 1:
            scale *= float(consts[0].value.reshape(()))
        elif cur.type == "Add" and len(consts) == 1:
            bias = consts[0].value
        elif cur.type not in ("Reshape", "Unsqueeze", "Squeeze"):
            raise IRFormatError(f"unexpected {cur.type} {cur.name} in a modulation branch")
        cur = next(s for s in srcs if s.value is None)
    raise IRFormatError(f"modulation {branch.name}: no affine MatMul found")


def _is_main(layer: IRLayer) -> bool:
    return bool(layer.out_shapes) and len(layer.out_shapes[0]) == 4 and layer.out_shapes[0][2] > 1


def convert_mapping(graph: IRGraph) -> dict[str, np.ndarray]:
    sd = {}
    for i, mm in enumerate(l for l in topological(graph) if l.type == "MatMul"):
        if mm.attrs.get("transpose_b") != "true":
            raise IRFormatError(f"mapping {mm.name}: expected transpose_b=true")
        add = [c for c in graph.consumers(mm) if c.type == "Add"][0]
        bias_src = graph.producer(add, 1)
        bias = bias_src.value if bias_src.value is not None else graph.const_input(bias_src, 0)
        sd[f"mapping.layers.{i}.weight"] = graph.const_input(mm, 1)
        sd[f"mapping.layers.{i}.bias"] = bias.reshape(-1)
    return sd


def convert_synthesis(graph: IRGraph, model: MobileStyleGAN) -> dict[str, np.ndarray]:
    """Walk the synthesis graph; return state-dict entries (numpy) for ``model``."""
    mods, convs, noises, biases, const_in = [], [], [], [], None
    for layer in topological(graph):
        if layer.type == "Multiply" and _is_main(layer):
            srcs = [graph.producer(layer, p) for p in range(2)]
            branch = [s for s in srcs if not _is_main(s)]
            if len(branch) == 1:
                mods.append(_affine(graph, branch[0]))
        elif layer.type in ("Convolution", "GroupConvolution"):
            convs.append(graph.const_input(layer, 1))
        elif layer.type == "Add" and _is_main(layer):
            src = graph.producer(layer, 1)
            if src.value is not None:
                (noises if src.value.shape[1] == 1 else biases).append(src.value)
        elif layer.type == "Broadcast" and layer.out_shapes[0] and len(layer.out_shapes[0]) == 4:
            const_in = graph.const_input(layer, 0)
    names = [s.name for s in model.style_layers if not _is_head(s.name)]
    if len(mods) != len(names):
        raise IRFormatError(f"found {len(mods)} modulations, the model has {len(names)}")
    sd: dict[str, np.ndarray] = {"const": const_in}
    for name, (w, b, scale) in zip(names, mods):
        sd[f"affines.{module_key(name)}.weight"] = w
        sd[f"affines.{module_key(name)}.bias"] = b
        expect = 1.0 if name.endswith(".up") else _conv_of(model, name).scale
        if not np.isclose(scale, expect, rtol=1e-4):
            raise IRFormatError(f"{name}: modulation scale {scale} != {expect}")
    layers = [model.conv1] + [c for b in model.blocks for c in (b.conv1, b.conv2)]
    if len(convs) != 2 + 4 * len(model.blocks) or len(noises) != len(layers):
        raise IRFormatError(f"unexpected conv/noise count: {len(convs)}/{len(noises)}")
    sd["conv1.conv.weight"] = convs.pop(0)
    for i, _ in enumerate(model.blocks):
        for j in (1, 2):
            sd[f"blocks.{i}.conv{j}.conv.dw"] = convs.pop(0).reshape(-1, 1, 3, 3)
            sd[f"blocks.{i}.conv{j}.conv.pw"] = convs.pop(0)
    sd["to_img.conv.weight"] = convs.pop(0)
    prefixes = ["conv1"] + [f"blocks.{i}.conv{j}" for i in range(len(model.blocks)) for j in (1, 2)]
    for prefix, noise, bias in zip(prefixes, noises, biases):
        sd[f"{prefix}.noise_const"] = noise
        sd[f"{prefix}.noise_std"] = np.asarray(noise.std(), dtype=np.float32)
        sd[f"{prefix}.bias"] = bias
    sd["to_img.bias"] = biases[-1]
    return sd


def _conv_of(model: MobileStyleGAN, name: str):
    if name == "conv1":
        return model.conv1.conv
    if name == "to_img":
        return model.to_img.conv
    block, conv = name.split(".")
    return getattr(model.blocks[int(block[1:])], conv).conv


def convert_ir(mapping_xml: str | Path, synthesis_xml: str | Path) -> dict[str, torch.Tensor]:
    """Read both IRs and return a state dict for ``MobileStyleGAN(MobileStyleGANConfig())``
    without the early-exit heads and without ``w_avg`` (see :func:`compute_w_avg`)."""
    model = MobileStyleGAN(MobileStyleGANConfig())
    sd = convert_mapping(read_ir(mapping_xml))
    sd.update(convert_synthesis(read_ir(synthesis_xml), model))
    expected = {k: v.shape for k, v in model.state_dict().items() if not _is_head_param(k)}
    expected.pop("w_avg")
    missing = sorted(set(expected) - set(sd))
    if missing:
        raise IRFormatError(f"IR conversion is missing {missing[:8]}")
    out = {}
    for key, shape in expected.items():
        value = torch.from_numpy(np.ascontiguousarray(sd[key], dtype=np.float32))
        if value.numel() != int(np.prod(shape)):
            raise IRFormatError(f"{key}: IR shape {tuple(value.shape)} != model {tuple(shape)}")
        out[key] = value.reshape(shape)
    return out


def _is_head(style_name: str) -> bool:
    """Early-exit heads (``b{k}.to_img``) are not in the IR."""
    return style_name.startswith("b") and style_name.endswith(".to_img")


def _is_head_param(key: str) -> bool:
    return key.startswith("heads.") or (key.startswith("affines.b") and "_to_img." in key)


@torch.no_grad()
def compute_w_avg(mapping: torch.nn.Module, n: int = 100_000, seed: int = 0) -> torch.Tensor:
    """Mean of ``mapping(z)`` over ``n`` seeded normal ``z`` (the StyleGAN ``w_avg``)."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(mapping.layers[0].in_features, dtype=torch.float64)
    for start in range(0, n, 10_000):
        z = torch.randn(min(10_000, n - start), total.numel(), generator=gen)
        total += mapping(z).double().sum(0)
    return (total / n).float()
