"""Writers of NVIDIA stylegan2-ada-pytorch ``.pkl`` files for tests (imported by name: pytest
puts this folder on sys.path; from another folder insert it first).

The pickles name NVIDIA's real globals (``torch_utils.persistence._reconstruct_persistent_obj``,
``dnnlib.util.EasyDict``) through fake modules installed with :func:`fake_nvidia_modules`, so the
loader sees exactly what an official checkpoint contains, without NVIDIA's code.
"""

from __future__ import annotations

import collections
import pickle
import sys
import types

import numpy as np
import torch

from stylelab.models.checkpoints import nvidia_state_dict
from stylelab.models.stylegan2 import StyleGAN2


def fake_nvidia_modules(monkeypatch) -> types.SimpleNamespace:
    """Fake ``torch_utils.persistence`` and ``dnnlib`` so pickles name NVIDIA's real globals."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # its name is what matters for pickling
        return meta  # inert: an unpickler that resolved it would go on to any payload after it

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easydict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easydict
    torch_utils, dnnlib = types.ModuleType("torch_utils"), types.ModuleType("dnnlib")
    torch_utils.persistence, dnnlib.util, dnnlib.EasyDict = persistence, util, easydict
    for name, mod in [("torch_utils", torch_utils), ("torch_utils.persistence", persistence),
                      ("dnnlib", dnnlib), ("dnnlib.util", util)]:
        monkeypatch.setitem(sys.modules, name, mod)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=easydict)


class Persistent:
    """Pickles like an NVIDIA ``@persistent_class`` object."""

    def __init__(self, reconstruct, class_name, state, module_src="# network source\n"):
        self.reconstruct, self.class_name = reconstruct, class_name
        self.state, self.src = state, module_src

    def __reduce__(self):
        meta = {"type": "class", "version": 4, "module_src": self.src,
                "class_name": self.class_name, "state": self.state}
        return self.reconstruct, (meta,)


def _class_of(path: str) -> str:
    last = path.rpartition(".")[2]
    if path == "":
        return "Generator"
    if last.startswith("fc") or last == "affine":
        return "FullyConnectedLayer"
    return {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "torgb": "ToRGBLayer",
            "conv0": "SynthesisLayer", "conv1": "SynthesisLayer"}.get(last, "SynthesisBlock")


def _module_state(G: StyleGAN2, path: str, fake) -> dict:
    cfg, cls = G.config, _class_of(path)
    state = {"training": False, "_parameters": collections.OrderedDict(),
             "_buffers": collections.OrderedDict(), "_non_persistent_buffers_set": set(),
             "_backward_hooks": collections.OrderedDict(),
             "_forward_hooks": collections.OrderedDict(),
             "_modules": collections.OrderedDict()}
    if cls == "FullyConnectedLayer":
        lr = cfg.lr_mlp if path.startswith("mapping") else 1
        state |= {"activation": "lrelu" if lr != 1 else "linear", "bias_gain": lr,
                  "weight_gain": np.float64(lr / np.sqrt(cfg.w_dim))}
    elif cls == "SynthesisLayer":
        state |= {"conv_clamp": cfg.conv_clamp, "act_gain": np.float64(np.sqrt(2)), "padding": 1}
    elif cls == "Generator":
        kwargs = {"z_dim": cfg.z_dim, "c_dim": 0, "w_dim": cfg.w_dim,
                  "img_resolution": cfg.resolution, "img_channels": 3,
                  "mapping_kwargs": fake.EasyDict(num_layers=cfg.mapping_layers),
                  "synthesis_kwargs": fake.EasyDict(channel_base=cfg.channel_base,
                                                    channel_max=cfg.channel_max, conv_clamp=256)}
        state |= {"z_dim": cfg.z_dim, "c_dim": 0, "w_dim": cfg.w_dim, "num_ws": G.num_ws,
                  "img_resolution": cfg.resolution, "_init_args": (), "_init_kwargs": kwargs}
    return state


def nvidia_tree(G: StyleGAN2, fake, module_src: str = "# network source\n") -> Persistent:
    """``G`` as NVIDIA's persistent G_ema module tree."""
    states: dict[str, dict] = {}

    def node(path: str) -> dict:
        if path not in states:
            states[path] = _module_state(G, path, fake)
            if path:
                parent, _, name = path.rpartition(".")
                node(parent)["_modules"][name] = None  # filled below, keeps the order
        return states[path]

    for key, t in nvidia_state_dict(G).items():
        path, _, name = key.rpartition(".")
        if name in ("w_avg", "noise_const", "resample_filter"):
            node(path)["_buffers"][name] = t
        else:
            node(path)["_parameters"][name] = torch.nn.Parameter(t, requires_grad=False)
    for path in sorted(states, key=lambda p: -p.count(".") if p else 1):
        obj = Persistent(fake.reconstruct, _class_of(path), states[path], module_src)
        if not path:
            return obj
        parent, _, name = path.rpartition(".")
        states[parent]["_modules"][name] = obj
    raise AssertionError("unreachable")


def write_nvidia_pkl(G: StyleGAN2, path, fake, module_src: str = "# network source\n",
                     protocol: int = 4) -> None:
    disc = Persistent(fake.reconstruct, "Discriminator", {"_parameters": collections.OrderedDict(
        w=torch.nn.Parameter(torch.randn(4, 4))), "_buffers": {}, "_modules": {}}, module_src)
    data = {"G": nvidia_tree(G, fake, module_src), "D": disc,
            "G_ema": nvidia_tree(G, fake, module_src), "augment_pipe": None,
            "training_set_kwargs": fake.EasyDict(resolution=G.resolution, use_labels=False)}
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
