"""``stylelab styleclip`` and ``stylelab styleclip-train-mapper`` with a constructed CLIP
model injected through STYLELAB_PLUGINS (tests/hub/clip_plugin.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from stylelab.cli import main

HUB_TESTS = Path(__file__).parent / "hub"
BASE = ["--model", "tiny-test", "--clip", "test:planted-tiny"]


@pytest.fixture(autouse=True)
def plugin(monkeypatch):
    """The CLI imports clip_plugin (registering the model); forget it afterwards, so other
    tests see the registry as it was."""
    from stylelab.clip import unregister_clip

    monkeypatch.syspath_prepend(str(HUB_TESTS))
    monkeypatch.setenv("STYLELAB_PLUGINS", "clip_plugin")
    yield
    unregister_clip("test:planted-tiny")
    sys.modules.pop("clip_plugin", None)  # so the next test's import registers it again


@pytest.mark.parametrize("method", ["global", "optimize"])
def test_styleclip_writes_before_after_and_latents(tmp_path, capsys, method):
    out = tmp_path / method
    assert main(["styleclip", *BASE, "--method", method, "--prompt", "a face with alpha",
                 "--input", "seed:2", "--steps", "20", "--alpha", "5", "--beta", "0.3",
                 "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    if method == "optimize":
        assert printed["clip_after"] > printed["clip_before"]
    for name in ("before.png", "after.png", "edited.safetensors", "result.json"):
        assert (out / name).is_file(), name
    with Image.open(out / "after.png") as im:
        assert im.size == (64, 64)
    info = json.loads((out / "result.json").read_text())
    assert info["method"] == method and info["prompt"] == "a face with alpha"
    if method == "global":  # the planted channel of "alpha" leads the direction
        assert info["config"]["top_channels"][0][0] == "conv1:5"


def test_train_mapper_then_use_it(tmp_path, capsys):
    ckpt = tmp_path / "beta.safetensors"
    args = ["styleclip-train-mapper", *BASE, "--prompt", "beta", "--steps", "6",
            "--checkpoint-every", "3", "--out", str(ckpt)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 6
    assert main([*args[:-4], "--steps", "9", "--out", str(ckpt)]) == 0  # resumes at 6
    assert json.loads(capsys.readouterr().out)["step"] == 9
    out = tmp_path / "mapped"
    assert main(["styleclip", *BASE, "--method", "mapper", "--prompt", "beta", "--steps", "4",
                 "--input", "seed:1", "--out", str(out)]) == 0
    assert (out / "after.png").is_file()


def test_input_from_an_inversion_folder(tmp_path, capsys):
    import torch

    from stylelab import load_generator
    from stylelab.inversion import OptimizeConfig, invert

    G = load_generator("tiny-test")
    with torch.no_grad():
        target = G.synthesis(G.map(torch.randn(1, G.z_dim), 0.7), size=64)
    inv = invert(G, target, OptimizeConfig(space="w+", steps=2, size=64), progress=False)
    folder = inv.save(tmp_path / "inv")
    assert main(["styleclip", *BASE, "--prompt", "gamma", "--input", str(folder),
                 "--out", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize(("extra", "message"), [
    (["--prompt", ""], "empty"),
    (["--prompt", "a face", "--neutral", "a face"], "same"),
    (["--prompt", "alpha", "--input", "seed:x"], "seed:N"),
    (["--prompt", "alpha", "--input", "/no/such/file.png"], "not a file"),
    (["--prompt", "alpha", "--clip", "nope"], "hf-hub:"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, extra, message):
    args = ["styleclip", *BASE, "--input", "seed:0", "--out", str(tmp_path / "o"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_clip_models_lists_what_is_available(capsys, monkeypatch):
    """`stylelab clip-models`: one name per line, the implicit default marked."""
    from stylelab.clip import registry

    monkeypatch.setattr(registry, "available_clip_models",
                        lambda: ["test:planted-tiny", "stylelab/faces-minilm"])
    assert main(["clip-models"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["test:planted-tiny", "stylelab/faces-minilm  (default)"]
    assert "available" in err


def test_styleclip_without_clip_uses_the_preferred_model(tmp_path, capsys, monkeypatch):
    from stylelab.clip import registry

    monkeypatch.setattr(registry, "preferred_clip", lambda available=None: "test:planted-tiny")
    out = tmp_path / "implicit"
    assert main(["styleclip", "--model", "tiny-test", "--prompt", "a face with alpha",
                 "--input", "seed:2", "--out", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["clip"] == "test:planted-tiny"


def test_styleclip_on_a_clcae_inversion_goes_through_f(tmp_path, capsys):
    import torch

    from stylelab import load_generator
    from stylelab.encoders import Encoder, EncoderConfig
    from stylelab.inversion.encode import invert_encoder

    G = load_generator("tiny-test")
    torch.manual_seed(0)
    encoder = Encoder(EncoderConfig.for_generator(
        G, "clcae", backbone="tiny-backbone", input_size=64, channels=16, style_hidden=16,
        f_hidden=16), G)
    with torch.no_grad():
        target = G.synthesis(G.sample_w(1, seed=3), size=64).clamp(-1, 1)
    folder = invert_encoder(encoder, target).save(tmp_path / "inverted")
    out = tmp_path / "edited"
    assert main(["styleclip", *BASE, "--method", "global", "--prompt", "a face with alpha",
                 "--input", str(folder), "--alpha", "5", "--out", str(out)]) == 0
    notes = json.loads((out / "result.json").read_text())["notes"]
    assert any("F features" in n for n in notes)
    with Image.open(out / "before.png") as im, Image.open(folder / "reconstruction.png") as rec:
        assert list(im.getdata()) == list(rec.getdata())  # the before face is the inversion
