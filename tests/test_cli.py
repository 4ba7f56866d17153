import pytest
from PIL import Image

from stylelab.cli import main


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mobilestylegan-ffhq" in out and "tiny-test" not in out  # test models stay hidden


def test_generate_writes_pngs_named_by_seed(tmp_path):
    assert main(["generate", "--model", "tiny-test", "--seeds", "3-5", "--truncation", "0.7",
                 "--size", "32", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["seed0003.png", "seed0004.png", "seed0005.png"]
    with Image.open(tmp_path / "seed0004.png") as im:
        assert im.format == "PNG" and im.size == (32, 32)


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    cases = [(["--seeds", "x1"], "bad seed"), (["--truncation", "3"], "outside [0, 2]"),
             (["--size", "48"], "cannot produce 48px"), (["--model", "nope"], "valid models")]
    for extra, expected in cases:
        args = ["generate", "--model", "tiny-test", "--out", str(tmp_path / "o"), *extra]
        if "--model" in extra:
            args = ["generate", "--out", str(tmp_path / "o"), *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err


@pytest.mark.weights
def test_align_and_invert_write_their_files(tmp_path, capsys):
    from stylelab.pipelines.invert import example_photos

    photo = str(example_photos()[0])
    assert main(["align", photo, "--out", str(tmp_path / "a.png"), "--size", "128"]) == 0
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (128, 128)
    out = tmp_path / "inv"
    assert main(["invert", photo, "--model", "tiny-test", "--size", "64", "--method", "pti",
                 "--steps", "2", "--out", str(out)]) == 0
    assert {"reconstruction.png", "latents.safetensors", "metrics.json", "aligned.png",
            "pasted.png"} <= {p.name for p in out.iterdir()}
    assert '"psnr"' in capsys.readouterr().out


@pytest.mark.weights
def test_invert_bad_input_is_one_clear_line(tmp_path, capsys):
    junk = tmp_path / "x.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main(["invert", str(junk), "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    from stylelab.pipelines.invert import example_photos

    with pytest.raises(SystemExit) as info:  # argparse answers: usage + one line, status 2
        main(["invert", str(example_photos()[0]), "--steps", "0", "--out", str(tmp_path)])
    assert info.value.code == 2 and "0 is outside 1..5000" in capsys.readouterr().err


@pytest.mark.weights
def test_invert_with_an_encoder(tmp_path, capsys, monkeypatch):
    """--method clcae writes the usual files plus F; a missing encoder says how to train it."""
    import json

    import torch

    from stylelab import load_generator
    from stylelab.encoders import Encoder, EncoderConfig, save_encoder
    from stylelab.pipelines.invert import example_photos

    photo = str(example_photos()[0])
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path / "cache"))
    args = ["invert", photo, "--model", "tiny-test", "--size", "64", "--method", "clcae"]
    assert main([*args, "--out", str(tmp_path / "none")]) == 2
    assert "train_encoder.py --model tiny-test --kind clcae" in capsys.readouterr().err
    G = load_generator("tiny-test")
    torch.manual_seed(0)
    config = EncoderConfig.for_generator(G, "clcae", backbone="tiny-backbone", input_size=64,
                                         channels=16, style_hidden=16, f_hidden=16)
    save_encoder(Encoder(config, G), tmp_path / "cache" / "encoders" / "tiny-test" /
                 "clcae.safetensors", {"steps": 0})
    out = tmp_path / "inv"
    assert main([*args, "--out", str(out)]) == 0
    info = json.loads((out / "metrics.json").read_text())
    assert info["method"] == "encoder:clcae" and info["steps_run"] == 0
    from safetensors import safe_open

    with safe_open(str(out / "latents.safetensors"), "pt") as f:
        assert any(k.startswith("features.") for k in f.keys())
