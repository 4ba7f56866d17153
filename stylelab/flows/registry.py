"""Trained StyleFlow models by generator: ``load_flow("mobilestylegan-ffhq")``.

Looked up in ``stylelab/assets/flows/<generator>/styleflow.safetensors`` (shipped), then
``<stylelab cache>/flows/<generator>/styleflow.safetensors`` (trained here by
``python training/train_styleflow.py --model <generator>``): fp16 weights, fp32
standardisation statistics, a ``.sha256`` sidecar checked before loading (never pickle) and a
``.json`` sidecar for people; the config and the generator's name live in the checksummed
file's metadata, which is the copy read. A flow trained for another generator is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..cache import CacheError, cache_dir, load_checked, read_metadata, save_checked
from ..fileio import write_text
from .styleflow import FlowConfig, StyleFlow

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "flows"
FORMAT = "stylelab-styleflow-1"
STATS = ("w_mean", "w_std", "a_mean", "a_std")


class FlowUnavailable(CacheError):
    """No trained flow for that generator: the message says how to train one."""


def train_command(generator: str) -> str:
    return f"python training/train_styleflow.py --model {generator}"


def flow_path(generator: str) -> Path | None:
    for folder in (ASSETS, cache_dir(create=False) / "flows"):
        path = folder / generator / "styleflow.safetensors"
        if path.is_file():
            return path
    return None


def save_flow(flow: StyleFlow, path: str | Path, generator: str, info: dict | None = None
              ) -> Path:
    """Weights fp16, statistics fp32, config + ``generator`` in the metadata; + .json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.float() if k in STATS else v.half()).cpu().contiguous()
               for k, v in flow.state_dict().items()}
    meta = {"format": FORMAT, "generator": generator, "config": flow.config.to_dict()}
    save_checked(path, tensors, meta)
    write_text(path.with_suffix(".json"), json.dumps(meta | (info or {}), indent=1))
    return path


def load_flow_file(path: str | Path, generator: str | None = None,
                   device: str | torch.device = "cpu") -> StyleFlow:
    """A frozen :class:`StyleFlow` from :func:`save_flow`'s file; ValueError when it was
    trained for another generator than ``generator``."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CacheError(f"{path} is not a StyleFlow file (format {meta.get('format')!r})")
    if generator is not None and meta.get("generator") != generator:
        raise ValueError(f"this StyleFlow was trained for {meta.get('generator')}, not "
                         f"{generator}; train one with `{train_command(generator)}`")
    state = load_checked(path)
    flow = StyleFlow(FlowConfig.from_dict(json.loads(meta["config"])))
    flow.load_state_dict({k: v.float() for k, v in state.items()})
    return flow.to(device).eval().requires_grad_(False)


def load_flow(generator: str, device: str | torch.device = "cpu") -> StyleFlow:
    """The trained flow for ``generator``; :class:`FlowUnavailable` says how to train one."""
    path = flow_path(generator)
    if path is None:
        raise FlowUnavailable(f"there is no StyleFlow for {generator} yet; train one with "
                              f"`{train_command(generator)}` (saved in "
                              f"{cache_dir(create=False) / 'flows' / generator})")
    return load_flow_file(path, generator, device)
