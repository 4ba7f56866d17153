"""Load public StyleGAN2 checkpoints into :class:`~stylelab.models.stylegan2.StyleGAN2`.

Formats:

* rosinality/stylegan2-pytorch ``.pt``: ``{"g_ema": state_dict, "latent_avg": (w_dim,)}``
  or a bare generator state dict (``style.1.weight``, ``input.input``,
  ``conv1.conv.weight``, ``convs.N.*``, ``to_rgbs.N.*``, ``noises.noise_N``, ...).
  Read with ``torch.load(weights_only=True)`` only.
* NVIDIA stylegan2-ada-pytorch / stylegan3-repo ``.pkl`` (StyleGAN2 generators): the
  ``G_ema`` entry (``mapping.fc0.weight``, ``synthesis.b4.const``, ``synthesis.b8.conv0.*``,
  ``synthesis.b8.torgb.*``, ...). These pickles normally *execute* the Python source
  embedded in them; here a restricted unpickler resolves only a whitelist of globals
  (tensor/storage rebuilders, containers, numpy scalars/arrays) and replaces NVIDIA's
  persistent network objects by inert records of their state dicts. Any other global
  raises :class:`UnsafeCheckpointError` (a :class:`CheckpointFormatError`); the embedded
  source is never executed.

Every loader returns a ready ``StyleGAN2`` in eval mode. Any bad file raises
:class:`CheckpointFormatError` with one line saying what to do: a checkpoint that does
not fit names the missing keys and the format it looks like; a damaged one (empty, text,
truncated, wrong archive) says so; NaN/Inf weights are refused.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import pickle
import re
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import torch

from .safe_pickle import PersistentRecord, RestrictedUnpickler, UnsafeCheckpointError  # noqa: F401
from .stylegan2 import StyleGAN2, StyleGAN2Config, fir_kernel
from .validate import CheckpointFormatError, as_error, brief, damaged, first_non_finite

PathLike = str | os.PathLike
ROSINALITY = "rosinality stylegan2-pytorch"
NVIDIA = "NVIDIA stylegan2-ada-pytorch"
AGAIN = "download the file again or pass the right checkpoint"


# ------------------------------------------------------------------ key tables
def _conv_layers(cfg: StyleGAN2Config) -> list[tuple[str, int, str]]:
    """``(our module prefix, conv index over the whole network, style name)`` of each 3x3 conv."""
    layers = [("conv1", 0, "conv1")]
    for k, r in enumerate(cfg.block_resolutions):
        layers += [(f"blocks.{k}.conv0", 2 * k + 1, f"{r}.conv0"),
                   (f"blocks.{k}.conv1", 2 * k + 2, f"{r}.conv1")]
    return layers


def _rgb_layers(cfg: StyleGAN2Config) -> list[tuple[str, str]]:
    """``(our module prefix, style name)`` of each to_rgb."""
    return [("to_rgb1", "to_rgb1")] + [
        (f"blocks.{k}.to_rgb", f"{r}.to_rgb") for k, r in enumerate(cfg.block_resolutions)]


def _affine(style: str, theirs: str) -> dict[str, str]:
    key = style.replace(".", "_")
    return {f"affines.{key}.weight": f"{theirs}.weight", f"affines.{key}.bias": f"{theirs}.bias"}


def rosinality_names(cfg: StyleGAN2Config) -> dict[str, str]:
    """Our state-dict key -> rosinality key (``w_avg`` -> top-level ``latent_avg``)."""
    names = {"w_avg": "latent_avg", "const": "input.input"}
    for i in range(cfg.mapping_layers):
        names |= {f"mapping.layers.{i}.weight": f"style.{i + 1}.weight",
                  f"mapping.layers.{i}.bias": f"style.{i + 1}.bias"}
    for ours, idx, style in _conv_layers(cfg):
        theirs = "conv1" if idx == 0 else f"convs.{idx - 1}"
        names |= {f"{ours}.weight": f"{theirs}.conv.weight",
                  f"{ours}.bias": f"{theirs}.activate.bias",
                  f"{ours}.noise_strength": f"{theirs}.noise.weight",
                  f"{ours}.noise_const": f"noises.noise_{idx}"}
        names |= _affine(style, f"{theirs}.conv.modulation")
    for k, (ours, style) in enumerate(_rgb_layers(cfg)):
        theirs = "to_rgb1" if k == 0 else f"to_rgbs.{k - 1}"
        names |= {f"{ours}.weight": f"{theirs}.conv.weight", f"{ours}.bias": f"{theirs}.bias"}
        names |= _affine(style, f"{theirs}.conv.modulation")
    return names


def _rosinality_shape(key: str, ours: torch.Size) -> tuple[int, ...]:
    """Shape rosinality stores for ``key``, given the shape of our tensor."""
    if key.endswith(".conv.weight"):
        return (1, *ours)  # (1, C_out, C_in, k, k)
    if key.endswith(".noise.weight"):
        return (1,)
    if key.startswith("noises."):
        return (1, 1, *ours)
    if re.fullmatch(r"to_rgb(1|s\.\d+)\.bias", key):
        return (1, 3, 1, 1)
    return tuple(ours)


def nvidia_names(cfg: StyleGAN2Config) -> dict[str, str]:
    """Our state-dict key -> key in NVIDIA's ``G_ema`` module tree."""
    names = {"w_avg": "mapping.w_avg", "const": "synthesis.b4.const"}
    for i in range(cfg.mapping_layers):
        names |= {f"mapping.layers.{i}.weight": f"mapping.fc{i}.weight",
                  f"mapping.layers.{i}.bias": f"mapping.fc{i}.bias"}
    blocks = ["synthesis.b4"] + [f"synthesis.b{r}" for r in cfg.block_resolutions]
    for ours, idx, style in _conv_layers(cfg):
        theirs = f"{blocks[(idx + 1) // 2]}.conv{0 if idx % 2 else 1}"
        for p in ("weight", "bias", "noise_strength", "noise_const"):
            names[f"{ours}.{p}"] = f"{theirs}.{p}"
        names |= _affine(style, f"{theirs}.affine")
    for k, (ours, style) in enumerate(_rgb_layers(cfg)):
        names |= {f"{ours}.weight": f"{blocks[k]}.torgb.weight",
                  f"{ours}.bias": f"{blocks[k]}.torgb.bias"}
        names |= _affine(style, f"{blocks[k]}.torgb.affine")
    return names


def _nvidia_shape(key: str, ours: torch.Size) -> tuple[int, ...]:
    return tuple(ours[1:]) if key.endswith(".const") else tuple(ours)  # const: (C, 4, 4)


def _is_ignored(fmt: str, key: str) -> bool:
    """Fixed resampling filters the checkpoints store but our module recomputes."""
    if fmt == ROSINALITY:
        return key.endswith((".blur.kernel", ".upsample.kernel"))
    return key.endswith("resample_filter")


# -------------------------------------------------------------- format errors
def detect_format(keys: Mapping[str, Any] | list[str]) -> str:
    """Best guess at which generator layout a flat key set comes from."""
    keys = set(keys)
    if any(k.startswith("synthesis.input.") for k in keys):
        return "NVIDIA StyleGAN3 (alias-free; not supported)"
    if "mapping.fc0.weight" in keys or "synthesis.b4.const" in keys:
        return NVIDIA
    if "style.1.weight" in keys or "input.input" in keys:
        return ROSINALITY
    if "mapping.layers.0.weight" in keys and "const" in keys:
        return "stylelab StyleGAN2 state dict (use StyleGAN2.load_state_dict)"
    return "unknown"


def _format_error(expected: str, missing: list[str], keys: Mapping[str, Any],
                  unexpected: list[str] = ()) -> CheckpointFormatError:
    sample = sorted(keys)[:5]
    parts = [f"not a {expected} StyleGAN2 generator matching this architecture:"]
    if missing:
        parts.append(f"{len(missing)} expected keys are missing, e.g. {missing[:8]};")
    if unexpected:
        parts.append(f"{len(unexpected)} keys are unexpected, e.g. {unexpected[:8]};")
    parts.append(f"detected format: {detect_format(keys)} (first keys: {sample}); "
                 "use the loader of that format, or " + AGAIN)
    return CheckpointFormatError(" ".join(parts))


def _require(expected: str, keys: Mapping[str, Any], required: list[str]) -> None:
    missing = [k for k in required if k not in keys]
    if missing:
        raise _format_error(expected, missing, keys)


# ------------------------------------------------------------- tensors -> model
def _build(cfg: StyleGAN2Config, tensors: Mapping[str, torch.Tensor], fmt: str,
           names: dict[str, str], their_shape: Callable[[str, torch.Size], tuple[int, ...]],
           ) -> StyleGAN2:
    """A StyleGAN2 for ``cfg`` holding ``tensors`` (our key -> their key per ``names``;
    our keys not in ``names`` keep their initial values), in eval mode."""
    G = StyleGAN2(cfg)
    state = G.state_dict()
    missing = [t for t in names.values() if t not in tensors]
    known = set(names.values())
    unexpected = [k for k in tensors if k not in known and not _is_ignored(fmt, k)]
    if missing or unexpected:
        raise _format_error(fmt, missing, tensors, unexpected)
    for our_key, key in names.items():
        want, got = their_shape(key, state[our_key].shape), tuple(tensors[key].shape)
        if got != want:
            raise CheckpointFormatError(
                f"{fmt} key {key!r} has shape {got}, this architecture expects {want}: {AGAIN}")
        state[our_key] = tensors[key].detach().float().reshape(state[our_key].shape)
    bad = first_non_finite((names[k], state[k]) for k in names)
    if bad is not None:
        raise CheckpointFormatError(f"{fmt} key {bad!r} holds NaN or Inf values: the file is "
                                    "damaged; download it again")
    G.load_state_dict(state)
    return G.eval().requires_grad_(False)


def _fit_channels(fmt: str, channels: dict[int, int]) -> tuple[int, int]:
    """``(channel_base, channel_max)`` reproducing ``{resolution: channels}``."""
    cmax = max(channels.values())
    unsaturated = [r * c for r, c in channels.items() if c < cmax]
    base = min(unsaturated) if unsaturated else cmax * max(channels)
    if any(min(base // r, cmax) != c for r, c in channels.items()):
        raise CheckpointFormatError(
            f"{fmt} checkpoint has a channel layout {channels} that no "
            f"channel_base/channel_max pair reproduces: {AGAIN}")
    return base, cmax


def _max_index(keys: Mapping[str, Any], pattern: str) -> int:
    """Largest integer captured by ``pattern`` over ``keys`` (-1 when none match)."""
    found = [int(m.group(1)) for k in keys if (m := re.match(pattern, k))]
    return max(found, default=-1)


def _width(fmt: str, state: Mapping[str, torch.Tensor], candidates: list[tuple[str, int]]) -> int:
    """``state[key].shape[dim]`` for the first present ``(key, dim)``; else a missing-key error."""
    for key, dim in candidates:
        if key in state:
            return state[key].shape[dim]
    raise _format_error(fmt, [candidates[0][0]], state)


# ---------------------------------------------------------------- rosinality
def infer_rosinality_config(state: Mapping[str, torch.Tensor], lr_mlp: float = 0.01,
                            ) -> StyleGAN2Config:
    """Architecture of a rosinality generator state dict (``lr_mlp`` is not stored in it)."""
    _require(ROSINALITY, state, ["style.1.weight", "input.input"])
    w_dim, z_dim = state["style.1.weight"].shape
    n_blocks = _max_index(state, r"to_rgbs\.(\d+)\.") + 1
    channels = {4: state["input.input"].shape[1]}
    for k in range(n_blocks):
        channels[8 * 2**k] = _width(ROSINALITY, state, [
            (f"convs.{2 * k}.conv.weight", 1), (f"convs.{2 * k + 1}.conv.weight", 1),
            (f"to_rgbs.{k}.conv.weight", 2)])
    base, cmax = _fit_channels(ROSINALITY, channels)
    return StyleGAN2Config(z_dim=z_dim, w_dim=w_dim, resolution=4 * 2**n_blocks,
                           mapping_layers=_max_index(state, r"style\.(\d+)\."),
                           channel_base=base, channel_max=cmax, lr_mlp=lr_mlp)


def _rosinality_state(source: PathLike | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Flat generator state dict; a checkpoint's top-level ``latent_avg`` is merged in."""
    if isinstance(source, (str, os.PathLike)):
        source = _torch_load(source)
    if not isinstance(source, Mapping):
        raise CheckpointFormatError(f"expected a {ROSINALITY} checkpoint dict, got "
                                    f"{type(source).__name__}: {AGAIN}")
    if "g_ema" in source:
        state = dict(source["g_ema"])
        if "latent_avg" in source:
            state["latent_avg"] = source["latent_avg"]
        return state
    return dict(source)


def _torch_load(path: PathLike) -> Any:
    """``torch.load(weights_only=True)``; also admits the ``argparse.Namespace`` of the
    ``args`` entry in rosinality training checkpoints."""
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    try:
        if safe_globals is None:
            return torch.load(path, map_location="cpu", weights_only=True)
        with safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointFormatError(
            f"{os.fspath(path)!r} is not a {ROSINALITY} checkpoint that torch.load("
            f"weights_only=True) can read ({brief(e)}); nothing in it was run: download it "
            "again, or use load_nvidia_pkl for an NVIDIA .pkl (never weights_only=False)") from e


@torch.no_grad()
def estimate_w_avg(G: StyleGAN2, samples: int = 10_000, seed: int = 0) -> torch.Tensor:
    """Mean of ``mapping(z)`` over ``samples`` seeded normal ``z``: ``(w_dim,)``."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=gen).to(G.device)
    return torch.cat([G.mapping(c) for c in z.split(1000)]).mean(0)


@as_error(CheckpointFormatError, f"the {ROSINALITY} checkpoint")
def load_rosinality(source: PathLike | Mapping[str, Any], config: StyleGAN2Config | None = None,
                    *, lr_mlp: float = 0.01, w_avg_samples: int = 10_000) -> StyleGAN2:
    """A ready StyleGAN2 (eval mode) from a rosinality checkpoint file or (state) dict.

    ``config=None`` infers resolution, widths and mapping depth from the keys (``lr_mlp``
    is not recorded in the checkpoint: 0.01 unless told). Without ``latent_avg`` the
    truncation centre is estimated from ``w_avg_samples`` mapped normal samples.
    """
    state = _rosinality_state(source)
    latent_avg = state.pop("latent_avg", None)
    cfg = config if config is not None else infer_rosinality_config(state, lr_mlp)
    names = rosinality_names(cfg)
    del names["w_avg"]  # optional, handled below
    G = _build(cfg, state, ROSINALITY, names, _rosinality_shape)
    if latent_avg is None:
        G.w_avg.copy_(estimate_w_avg(G, w_avg_samples))
    else:
        G.w_avg.copy_(_latent_avg(latent_avg, cfg.w_dim))
    if not bool(torch.isfinite(G.w_avg).all()):
        raise CheckpointFormatError(f"latent_avg holds NaN or Inf values: {AGAIN}")
    return G


def _latent_avg(latent_avg: torch.Tensor, w_dim: int) -> torch.Tensor:
    """``(w_dim,)`` from the ``latent_avg`` variants in the wild: (w_dim,), (1 or num_ws, w_dim)."""
    latent_avg = latent_avg.detach().float()
    if latent_avg.ndim == 2 and latent_avg.shape[-1] == w_dim:
        latent_avg = latent_avg.mean(0)
    if latent_avg.shape != (w_dim,):
        raise CheckpointFormatError(
            f"latent_avg has shape {tuple(latent_avg.shape)}, expected ({w_dim},): {AGAIN}")
    return latent_avg


def _export(G: StyleGAN2, names: dict[str, str],
            their_shape: Callable[[str, torch.Size], tuple[int, ...]]) -> dict[str, torch.Tensor]:
    ours = G.state_dict()
    return {key: ours[k].detach().cpu().reshape(their_shape(key, ours[k].shape)).clone()
            for k, key in names.items()}


def rosinality_state_dict(G: StyleGAN2) -> dict[str, torch.Tensor]:
    """``G``'s weights in rosinality's key layout (with ``latent_avg``; blur kernels included)."""
    state = _export(G, rosinality_names(G.config), _rosinality_shape)
    kernel = fir_kernel() * 4
    for k in range(len(G.config.block_resolutions)):
        state[f"convs.{2 * k}.conv.blur.kernel"] = kernel.clone()
        state[f"to_rgbs.{k}.upsample.kernel"] = kernel.clone()
    return state


def save_rosinality(G: StyleGAN2, path: PathLike) -> None:
    """Write ``{"g_ema": state_dict, "latent_avg": w_avg}`` as rosinality's tools do."""
    state = rosinality_state_dict(G)
    latent_avg = state.pop("latent_avg")
    torch.save({"g_ema": state, "latent_avg": latent_avg}, path)


def read_nvidia_pkl(path: PathLike | BinaryIO) -> Any:
    """The unpickled top-level object (normally a dict with ``G``, ``D``, ``G_ema``, ...),
    networks as :class:`PersistentRecord`. Never imports or runs code from the file."""
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as f:
            return read_nvidia_pkl(f)
    magic = path.read(4)
    path.seek(-len(magic), io.SEEK_CUR)
    if magic == b"PK\x03\x04":
        raise CheckpointFormatError(
            "this is a torch.save zip archive, not an NVIDIA pickle; try load_rosinality")
    try:
        return RestrictedUnpickler(path).load()
    except CheckpointFormatError:
        raise
    except Exception as e:  # anything the bytes provoke: one error, never a raw one
        raise damaged(CheckpointFormatError, f"the {NVIDIA} pickle", e) from e


def infer_nvidia_config(G_ema: PersistentRecord) -> StyleGAN2Config:
    """Architecture of a recorded NVIDIA StyleGAN2 ``G_ema`` (widths from tensor shapes;
    lr multiplier and conv clamp from the recorded layer attributes)."""
    t = G_ema.tensors()
    _require(NVIDIA, t, ["mapping.fc0.weight", "synthesis.b4.const",
                         "synthesis.b4.conv1.affine.weight"])
    if G_ema.attr("c_dim", 0) or "mapping.embed.weight" in t:
        raise CheckpointFormatError("conditional (c_dim > 0) NVIDIA generators are not "
                                    "supported: use an unconditional StyleGAN2 checkpoint")
    resolution = _max_index(t, r"synthesis\.b(\d+)\.")
    channels = {r: _width(NVIDIA, t, [(f"synthesis.b{r}.conv1.weight", 0),
                                      (f"synthesis.b{r}.conv0.weight", 0),
                                      (f"synthesis.b{r}.torgb.weight", 1)])
                for r in (2**i for i in range(2, int(math.log2(resolution)) + 1))}
    n_fc = _max_index(t, r"mapping\.fc(\d+)\.") + 1
    base, cmax = _fit_channels(NVIDIA, channels)
    clamp = G_ema.attr("synthesis.b4.conv1.conv_clamp")
    return StyleGAN2Config(
        z_dim=t["mapping.fc0.weight"].shape[1],
        w_dim=t["synthesis.b4.conv1.affine.weight"].shape[1],
        resolution=resolution, mapping_layers=n_fc, channel_base=base, channel_max=cmax,
        lr_mlp=float(G_ema.attr("mapping.fc0.bias_gain", 0.01)),
        conv_clamp=None if clamp is None else float(clamp))


@as_error(CheckpointFormatError, f"the {NVIDIA} pickle")
def load_nvidia_pkl(path: PathLike | BinaryIO) -> StyleGAN2:
    """A ready StyleGAN2 (eval mode) from the ``G_ema`` of an official NVIDIA ``.pkl``."""
    data = read_nvidia_pkl(path)
    G_ema = data.get("G_ema") if isinstance(data, Mapping) else data
    if not isinstance(G_ema, PersistentRecord):
        found = sorted(data)[:8] if isinstance(data, Mapping) else type(data).__name__
        raise CheckpointFormatError(f"no NVIDIA network under 'G_ema' (found {found}): "
                                    "pass a stylegan2-ada-pytorch network pickle")
    cfg = infer_nvidia_config(G_ema)
    return _build(cfg, G_ema.tensors(), NVIDIA, nvidia_names(cfg), _nvidia_shape)


def nvidia_state_dict(G: StyleGAN2) -> dict[str, torch.Tensor]:
    """``G``'s weights under NVIDIA's ``G_ema`` key names (resample filters included)."""
    state = _export(G, nvidia_names(G.config), _nvidia_shape)
    for r in (4, *G.config.block_resolutions):
        for layer in ("", ".conv0", ".conv1"):
            if not (r == 4 and layer == ".conv0"):
                state[f"synthesis.b{r}{layer}.resample_filter"] = fir_kernel()
    return state
