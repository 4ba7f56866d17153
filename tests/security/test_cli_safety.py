"""The CLI never overwrites an input or an earlier result unless told, writes atomically,
and answers bad numbers and unwritable places with one line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from stylelab.cli import main
from stylelab.fileio import atomic_write, save_png


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("stylelab: error:") or "error:" in err
    assert len(err.strip().splitlines()) <= 3 and "Traceback" not in err  # argparse: usage+line
    return err


def test_align_never_replaces_its_input(tmp_path, capsys):
    photo = tmp_path / "x.png"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(photo)
    before = photo.read_bytes()
    for out in (photo, tmp_path / "." / "x.png", tmp_path / ".." / tmp_path.name / "x.png"):
        for flags in ([], ["--overwrite"]):
            assert main(["align", str(photo), "--out", str(out), *flags]) == 2
            assert "is the input file" in _err(capsys)
    assert photo.read_bytes() == before


def test_align_size_is_bounded(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["align", "x.jpg", "--out", str(tmp_path / "y.png"), "--size", "999999"])
    assert info.value.code == 2 and "outside 16..4096" in capsys.readouterr().err


def test_generate_refuses_to_overwrite_unless_told(tmp_path, capsys):
    args = ["generate", "--model", "tiny-test", "--seeds", "1-2", "--size", "32",
            "--out", str(tmp_path)]
    assert main(args) == 0
    first = (tmp_path / "seed0001.png").read_bytes()
    capsys.readouterr()
    assert main([*args[:-2], "--truncation", "0.3", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in _err(capsys)
    assert (tmp_path / "seed0001.png").read_bytes() == first
    assert main([*args, "--truncation", "0.3", "--overwrite"]) == 0
    assert (tmp_path / "seed0001.png").read_bytes() != first


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "outside 1..256"),
    (["--batch-size", "-1"], "outside 1..256"),
    (["--truncation", "nan"], "not a finite number"),
    (["--truncation", "inf"], "not a finite number"),
    (["--seeds", "9" * 100_000], "bad seed"),
    (["--seeds", "2.7"], "whole numbers"),
    (["--seeds", "-5"], "whole numbers"),
    (["--size", "999999"], "outside 1..4096"),
])
def test_generate_bad_numbers(tmp_path, capsys, flags, message):
    code = None
    try:
        code = main(["generate", "--model", "tiny-test", "--out", str(tmp_path / "o"), *flags])
    except SystemExit as exc:  # argparse's own answer
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err) < 2000
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_out_that_is_a_file_or_unwritable(tmp_path, capsys):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    assert main(["generate", "--model", "tiny-test", "--seeds", "0", "--out", str(a_file)]) == 2
    assert "is a file" in _err(capsys)
    if os.geteuid() != 0:  # root can write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["generate", "--model", "tiny-test", "--seeds", "0",
                     "--out", str(locked / "sub")]) == 2
        assert "cannot write" in _err(capsys)
    assert main(["generate", "--model", "tiny-test", "--seeds", "0",
                 "--out", "/proc/stylelab-out"]) == 2
    assert "cannot write" in _err(capsys)


def test_invert_refuses_an_earlier_result(tmp_path, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 64)).save(photo)
    assert main(["invert", str(photo), "--model", "tiny-test", "--out", str(out)]) == 2
    assert "already holds results" in _err(capsys)
    assert (out / "metrics.json").read_text() == "{}"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.png"
    save_png(Image.new("RGB", (8, 8), (1, 2, 3)), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_subprocess_exit_code_and_one_line(tmp_path):
    env = dict(os.environ, STYLELAB_PLUGINS="stylelab.testing")
    done = subprocess.run([sys.executable, "-m", "stylelab.cli", "generate", "--model",
                           "tiny-test", "--seeds", "abc", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "bad seed 'abc'" in done.stderr
