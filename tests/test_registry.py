import os
import stat

import pytest
import torch

import stylelab
from stylelab.cache import (
    CacheError,
    cache_dir,
    hub_download,
    load_checked,
    save_checked,
)


def test_list_models_and_unknown_name():
    names = stylelab.list_models()
    assert {"mobilestylegan-ffhq", "stylegan2-ffhq-1024"} <= set(names)
    with pytest.raises(ValueError, match="valid models: mobilestylegan-ffhq"):
        stylelab.load_generator("stylegan9")


def test_test_models_are_hidden_but_loadable():
    """stylelab.testing registers the tiny models (conftest imports it): loadable by name,
    never listed to users."""
    assert "tiny-test" not in stylelab.list_models()
    assert {"tiny-test", "tiny-stylegan2"} <= set(stylelab.list_models(include_hidden=True))
    assert "tiny-test" not in str(pytest.raises(ValueError, stylelab.load_generator, "x").value)
    assert stylelab.load_generator("tiny-test").resolution == 64


def test_register_generator_for_plugins():
    from stylelab.registry import REGISTRY, ModelSpec, register_generator

    calls = []

    def loader(spec):
        calls.append(spec.name)
        return stylelab.load_generator("tiny-test")

    spec = ModelSpec("plugin-gen", "a plugin generator", "mobilestylegan", 64, "plugin", 0.5)
    try:
        register_generator(spec, loader)
        assert "plugin-gen" in stylelab.list_models()
        G = stylelab.load_generator("plugin-gen")
        assert calls == ["plugin-gen"] and G.model_name == "plugin-gen"
        assert G.default_truncation == 0.5
        with pytest.raises(ValueError, match="give a loader"):
            register_generator(ModelSpec("x", "", "stylegan2", 32, "plugin"))
    finally:
        REGISTRY.pop("plugin-gen", None)


def test_loading_and_sampling_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    G = stylelab.load_generator("tiny-test")
    G.sample_w(4, seed=1)
    torch.testing.assert_close(torch.rand(3), expected)


def test_tiny_is_deterministic_and_frozen():
    a, b = stylelab.load_generator("tiny-test"), stylelab.load_generator("tiny-test")
    z = stylelab.z_from_seeds([0], a.z_dim)
    torch.testing.assert_close(a(z), b(z))
    assert not any(p.requires_grad for p in a.parameters()) and not a.training


def test_checked_file_roundtrip_and_corruption(tmp_path):
    path = tmp_path / "x.safetensors"
    save_checked(path, {"a": torch.arange(10.0)}, {"note": "hi"})
    assert load_checked(path)["a"].sum() == 45
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="corrupt or truncated"):
        load_checked(path)
    path.write_bytes(bytes(raw[:20]))
    with pytest.raises(CacheError, match="corrupt or truncated"):
        load_checked(path)


def _convert(path: str) -> None:  # a spawned process: module-level, picklable
    for _ in range(20):
        save_checked(__import__("pathlib").Path(path), {"a": torch.arange(1_000_000.0)})


def test_processes_converting_the_same_weights_at_once_do_not_collide(tmp_path):
    """Two benchmarks (or a hub and a CLI) converting one file at once: before, both wrote
    ``x.safetensors.tmp`` and one rename failed with FileNotFoundError."""
    import multiprocessing

    path = tmp_path / "x.safetensors"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_convert, args=(str(path),)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert load_checked(path)["a"][-1] == 999_999
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x.safetensors", "x.sha256"]


def test_cache_dir_not_writable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STYLELAB_CACHE", str(blocker / "cache"))
    with pytest.raises(CacheError, match="not writable.*STYLELAB_CACHE"):
        cache_dir()
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        monkeypatch.setenv("STYLELAB_CACHE", str(ro))
        with pytest.raises(CacheError, match="not writable"):
            cache_dir()


def _fake_hub_file(hub_cache, repo_id, filename, data: bytes, rev="0" * 40):
    """Lay a file out the way huggingface_hub caches it (what a past online download left)."""
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    target = repo / "snapshots" / rev / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(rev)
    return target


def test_hub_download_from_local_cache(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    data = b"weights!"
    _fake_hub_file(tmp_path, "org/models", "models/g.pkl", data)
    good = hashlib.sha256(data).hexdigest()
    assert hub_download("org/models", "models/g.pkl", good).read_bytes() == data
    with pytest.raises(CacheError, match="sha256"):
        hub_download("org/models", "models/g.pkl", "0" * 64)
    with pytest.raises(CacheError, match="cannot download.*offline"):
        hub_download("org/models", "models/missing.pkl")


def test_hub_model_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CacheError, match="huggingface.co/public-data/StyleGAN2"):
        stylelab.load_generator("stylegan2-ffhq-1024")


@pytest.mark.weights
def test_corrupt_embedded_cache_is_rebuilt_not_loaded(mobile):
    path = cache_dir() / "mobilestylegan-ffhq-v1.safetensors"
    assert path.exists()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncate
    G = stylelab.load_generator("mobilestylegan-ffhq")
    z = stylelab.z_from_seeds([0])
    torch.testing.assert_close(G.map(z), mobile.map(z))
    assert load_checked(path)  # rebuilt with a valid checksum


def test_loading_inside_inference_mode_still_allows_gradients():
    """A pipeline may load its generator lazily inside torch.inference_mode (seed_latent);
    the weights must still be usable by gradient-based methods afterwards."""
    import torch

    from stylelab import load_generator

    with torch.inference_mode():
        G = load_generator("tiny-test")
    w = G.map(torch.randn(1, G.z_dim)).requires_grad_(True)
    G.synthesis(w, size=32).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_model_status_and_download_command(capsys):
    """Offline, hub models are "download" (the hub lists them apart, with this command)."""
    from stylelab.cli import main
    from stylelab.registry import model_status

    assert model_status("mobilestylegan-ffhq") == "ready"
    assert model_status("tiny-test") == "ready"
    assert model_status("stylegan2-ffhq-256") == "download"
    assert main(["download", "stylegan2-ffhq-256"]) == 2
    assert "cannot download" in capsys.readouterr().err
    assert main(["download", "tiny-test"]) == 0
    assert "already available" in capsys.readouterr().out


def test_cached_hub_model_is_checked_before_its_metadata_is_read(tmp_path, monkeypatch):
    """A cached hub generator whose checksum fails, or whose metadata has no config, is a
    CacheError and is removed (the next load downloads it again), never a raw KeyError."""
    import torch

    from stylelab.cache import CacheError, save_checked
    from stylelab.registry import get_spec, load_generator

    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    spec = get_spec("stylegan2-ffhq-256")
    path = tmp_path / f"{spec.name}.safetensors"
    save_checked(path, {"x": torch.zeros(2)}, {"not_config": "1"})
    with pytest.raises(CacheError, match="no usable generator config"):
        load_generator(spec.name)
    assert not path.exists() and not path.with_suffix(".sha256").exists()
    save_checked(path, {"x": torch.zeros(2)}, {"config": "{}"})
    path.write_bytes(path.read_bytes()[:-3])  # truncated: the checksum fails first
    with pytest.raises(CacheError, match="corrupt or truncated"):
        load_generator(spec.name)
    assert not path.exists()
