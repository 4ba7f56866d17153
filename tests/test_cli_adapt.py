"""``stylelab adapt`` on the tiny generator: writes a loadable folder, refuses bad input in one
line, never replaces a folder that is not an adapted generator."""

from __future__ import annotations

import json

import torch

from stylelab import load_generator
from stylelab.cli import main
from stylelab.images import to_pil


def reference(tmp_path):
    G = load_generator("tiny-test")
    with torch.no_grad():
        image = to_pil(G.synthesis(G.sample_w(1, seed=3), size=64))[0]
    path = tmp_path / "ref.png"
    image.save(path)
    return str(path)


def test_adapt_writes_a_model_folder(tmp_path, capsys):
    out = tmp_path / "child"
    assert main(["adapt", "--model", "tiny-test", "--method", "difa", "--reference",
                 reference(tmp_path), "--steps", "2", "--embed", "tiny-backbone",
                 "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["steps"] == 2 and report["model"] == str(out)
    info = json.loads((out / "adapted.json").read_text())
    assert info["parent"] == "tiny-test" and info["config"]["direction"] == "mean"  # no face
    assert info["name"].startswith("difa-") and "no face found" in info["config"]["reference_note"]
    assert main(["generate", "--model", str(out), "--seeds", "0", "--size", "32",
                 "--out", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "seed0000.png").is_file()
    # a second run into the same folder needs --overwrite
    assert main(["adapt", "--model", "tiny-test", "--reference", reference(tmp_path),
                 "--steps", "1", "--embed", "tiny-backbone", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_bad_input_is_one_line(tmp_path, capsys):
    keep = tmp_path / "photos"
    keep.mkdir()
    (keep / "a.txt").write_text("mine")
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    cases = [
        (["--reference", str(notes)], "not an image"),
        (["--method", "jojo"], "needs a reference"),
        (["--reference", reference(tmp_path), "--out", str(keep)], "not an adapted"),
        (["--reference", reference(tmp_path), "--steps", "0"], "--steps"),
        (["--reference", reference(tmp_path), "--preserve-colour"], "JoJoGAN-style"),
        (["--method", "nada", "--source-text", "a", "--target-text", "a",
          "--clip", "nope"], "unknown CLIP model"),
        (["--model", "nope", "--reference", reference(tmp_path)], "valid models"),
    ]
    for extra, expected in cases:
        args = ["adapt", "--embed", "tiny-backbone", *extra]
        if "--model" not in extra:
            args[1:1] = ["--model", "tiny-test"]
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own errors: one line, status 2
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and expected in err and "Traceback" not in err, (extra, err)
    assert (keep / "a.txt").read_text() == "mine"
