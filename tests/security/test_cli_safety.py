"""The CLI never overwrites an input or an earlier result unless told, writes atomically,
and answers bad numbers and unwritable places with one line and exit status 2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from stylelab.cli import main
from stylelab.fileio import atomic_write, save_png


def _err(capsys) -> str:
    """The command's stderr: one short line starting 'stylelab...: error:'."""
    err = capsys.readouterr().err
    assert err.startswith("stylelab") and ": error: " in err, err
    assert err.count("\n") == 1 and len(err) < 400 and "Traceback" not in err, err
    return err


def _code(args: list[str]) -> int:
    """main()'s status, or argparse's (it raises SystemExit)."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


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
    assert _code(["align", "x.jpg", "--out", str(tmp_path / "y.png"), "--size", "999999"]) == 2
    assert "outside 16..4096" in _err(capsys)


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
    (["--seeds", "9" * 100_000], "too large: seeds are whole numbers"),
    (["--seeds", "1-" + "9" * 5000], "too large"),
    (["--truncation", "9" * 100_000], "(100000 characters) is not a finite number"),
    (["--batch-size", "9" * 100_000], "(100000 characters) is outside 1..256"),
    (["--batch-size", "x"], "'x' is not a whole number"),
    (["--seeds", "2.7"], "whole numbers"),
    (["--seeds", "-5"], "whole numbers"),
    (["--size", "999999"], "outside 1..4096"),
])
def test_generate_bad_numbers(tmp_path, capsys, flags, message):
    assert _code(["generate", "--model", "tiny-test", "--out", str(tmp_path / "o"), *flags]) == 2
    assert message in _err(capsys)
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
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "bad seed 'abc'" in done.stderr


def test_console_script_argparse_error_is_one_line(tmp_path):
    """The installed ``stylelab`` script: argparse's answer is one line (no usage block)."""
    script = Path(sys.executable).with_name("stylelab")
    if not script.is_file():
        pytest.skip(f"no console script at {script} (pip install -e .)")
    done = subprocess.run([str(script), "generate", "--model", "tiny-test", "--batch-size", "0",
                           "--out", str(tmp_path / "o")],
                          check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("stylelab generate: error: argument --batch-size: 0 is outside "
                           "1..256; see `stylelab generate --help`\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [
    ["invert", "x.png", "--out", "o"],
    ["styleclip", "--prompt", "a", "--input", "seed:1", "--out", "o"],
    ["styleclip", "--prompt", "a", "--input", "x.png", "--out", "o", "--invert-steps"],
    ["styleclip-train-mapper", "--prompt", "a"],
])
@pytest.mark.parametrize(("steps", "message"), [
    ("0", "0 is outside 1..5000"), ("-3", "-3 is outside 1..5000"),
    ("5001", "5001 is outside 1..5000"), ("1e3", "'1e3' is not a whole number"),
    ("9" * 100_000, "(100000 characters) is outside 1..5000"),
    ("0" * 100_000, "0 is outside 1..5000"), ("+-5", "'+-5' is not a whole number"),
])
def test_steps_are_bounded(capsys, command, steps, message):
    """Before any model loads (x.png need not exist): one line, status 2."""
    if command[-1] != "--invert-steps":
        command = [*command, "--steps"]
    assert _code([*command, steps]) == 2
    assert message in _err(capsys)


def test_cli_step_limit_is_the_pipelines(capsys):
    from stylelab import cli
    from stylelab.pipelines import invert, textedit

    assert cli.MAX_STEPS == invert.MAX_STEPS == textedit.MAX_STEPS


@pytest.mark.parametrize("flag", ["--alpha", "--beta"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "abc"])
def test_styleclip_numbers_are_finite(tmp_path, capsys, flag, value):
    assert _code(["styleclip", "--prompt", "a", "--input", "seed:1", "--out",
                  str(tmp_path / "o"), flag, value]) == 2
    assert f"argument {flag}" in _err(capsys)
    assert not (tmp_path / "o").exists()


def test_styleclip_refuses_an_earlier_result_and_its_input(tmp_path, capsys):
    out = tmp_path / "edit"
    out.mkdir()
    (out / "after.png").write_bytes(b"earlier")
    args = ["styleclip", "--prompt", "a", "--input", "seed:1", "--out", str(out)]
    assert main(args) == 2  # refused before any model or CLIP is loaded
    assert "--overwrite" in _err(capsys)
    photo = out / "before.png"
    Image.new("RGB", (64, 64)).save(photo)
    assert main(["styleclip", "--prompt", "a", "--input", str(photo), "--out", str(out),
                 "--overwrite"]) == 2
    assert "would overwrite the input before.png" in _err(capsys)
    assert (out / "after.png").read_bytes() == b"earlier"


def test_invert_never_writes_over_its_input(tmp_path, capsys):
    out = tmp_path / "res"
    out.mkdir()
    photo = out / "aligned.png"  # the name invert gives the aligned crop
    Image.new("RGB", (64, 64), (5, 6, 7)).save(photo)
    before = photo.read_bytes()
    assert main(["invert", str(photo), "--model", "tiny-test", "--out", str(out),
                 "--overwrite"]) == 2
    assert "would overwrite the input aligned.png" in _err(capsys)
    assert photo.read_bytes() == before


def test_train_mapper_checks_its_out_before_loading(tmp_path, capsys):
    """A folder or an unwritable place is refused at once, not after loading CLIP."""
    assert main(["styleclip-train-mapper", "--prompt", "a", "--clip", "no-such-clip",
                 "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file path such as" in _err(capsys)
    assert main(["styleclip-train-mapper", "--prompt", "a", "--clip", "no-such-clip",
                 "--out", "/proc/stylelab/m.safetensors"]) == 2
    assert "cannot write" in _err(capsys)


def test_written_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); results are readable like open()'s."""
    old = os.umask(0o022)
    try:
        from stylelab import fileio

        path = save_png(Image.new("RGB", (4, 4)), tmp_path / "a.png")
        assert stat.S_IMODE(path.stat().st_mode) == fileio.FILE_MODE == 0o644
    finally:
        os.umask(old)


def test_images_save_png_is_atomic_and_fast(tmp_path, monkeypatch):
    """The tensor helper writes through fileio.save_png (temp file + rename, zlib level 1)."""
    import torch

    from stylelab import fileio
    from stylelab.images import save_png as save_batch

    calls = []
    monkeypatch.setattr(fileio, "atomic_write", _spy(fileio.atomic_write, calls))
    paths = save_batch(torch.zeros(2, 3, 8, 8), [tmp_path / "a" / "0.png", tmp_path / "1.png"])
    assert [p.name for p in paths] == ["0.png", "1.png"] and calls == paths
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["0.png", "1.png", "a"]


def _spy(fn, calls):
    def wrapped(path):
        calls.append(Path(path))
        return fn(path)
    return wrapped


@pytest.mark.parametrize(("seeds", "message"), [
    ("9" * 100_000, "too large"), ("3-" + "0" * 20 + "9" * 11, "too large"),
    ([2.7], "bad seed"), (["3"], "bad seed"), ("٣", "bad seed"),
])
def test_parse_seeds_own_messages(seeds, message):
    """Over-long numbers never reach int() (no 'Exceeds the limit ... digits' message),
    non-integers are refused rather than truncated, Unicode digits are not seeds."""
    from stylelab.latents import parse_seeds

    with pytest.raises(ValueError, match=message) as info:
        parse_seeds(seeds)
    assert "digits" not in str(info.value) and len(str(info.value)) < 200


def test_parse_seeds_leading_zeros_and_int_likes():
    import numpy as np

    from stylelab.latents import parse_seeds

    assert parse_seeds("000000000000000007-9") == [7, 8, 9]
    assert parse_seeds("0" * 100_000 + "5") == [5]  # no digit-limit error from int()
    assert parse_seeds([1, np.int64(2)]) == [1, 2]


def test_inversion_result_save_is_atomic(tmp_path, monkeypatch):
    """A save that fails half way keeps the earlier latents file whole and leaves no
    temporary files behind."""
    import torch

    import stylelab.inversion.result as result_module
    from stylelab.inversion.result import InversionResult

    result = InversionResult(latent=torch.zeros(1, 4, 8), space="w+",
                             reconstruction=torch.zeros(1, 3, 8, 8))
    result.save(tmp_path)
    before = (tmp_path / "latents.safetensors").read_bytes()

    def broken_save_file(tensors, path, *args):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_module, "save_file", broken_save_file)
    with pytest.raises(OSError):
        InversionResult(latent=torch.ones(1, 4, 8), space="w+",
                        reconstruction=torch.ones(1, 3, 8, 8)).save(tmp_path)
    assert (tmp_path / "latents.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latents.safetensors", "metrics.json", "reconstruction.png"]


def test_save_pngs_keeps_order_and_bounds_the_queue(tmp_path, monkeypatch):
    """The generate writer overlaps production, yields paths in order, and never lets more
    than ``ahead`` images wait (memory stays bounded for any number of seeds)."""
    import time

    from stylelab import fileio

    written: list[Path] = []

    def slow_save(image, path):
        time.sleep(0.005)
        written.append(Path(path))
        return Path(path)

    monkeypatch.setattr(fileio, "save_png", slow_save)
    waiting: list[int] = []

    def items():
        for i in range(20):
            waiting.append(i - len(written))  # produced before this one, not yet written
            yield None, tmp_path / f"{i}.png"

    assert list(fileio.save_pngs(items(), ahead=3)) == [tmp_path / f"{i}.png"
                                                        for i in range(20)]
    assert written == [tmp_path / f"{i}.png" for i in range(20)]
    assert max(waiting) <= 3


def test_save_pngs_raises_a_failed_write(tmp_path):
    from stylelab.fileio import save_pngs

    images = [(Image.new("RGB", (4, 4)), tmp_path / "a.png"),
              (Image.new("RGB", (4, 4)), tmp_path / "missing" / "b.png")]
    with pytest.raises(OSError):
        list(save_pngs(images))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
