from PIL import Image

from stylelab.cli import main


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mobilestylegan-ffhq" in out and "tiny-test" in out


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
