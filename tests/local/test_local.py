"""Local editing on the tiny generator: masks, transplants that stay inside the mask, the
outside kept pixel-identical, seams, and bad masks and layers refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.local import (
    LocalConfig,
    check_mask,
    load_mask,
    local_change,
    masked_edit,
    pick_layer,
    region_mask,
    resize_mask,
    seam,
    transplant,
)


def square_mask(size: int = 64, lo: int = 20, hi: int = 44) -> torch.Tensor:
    m = torch.zeros(size, size)
    m[lo:hi, lo:hi] = 1
    return m


def test_region_masks_from_landmarks_follow_the_face():
    from stylelab.faces.identity import canonical_landmarks

    lm = canonical_landmarks(256)  # FFHQ-aligned mean landmarks at 256 px
    mouth = region_mask(lm, "mouth", 64, 256)
    eyes = region_mask(lm, "eyes", 64, 256)
    assert mouth.shape == (64, 64) and 0 < float(mouth.mean()) < 0.1
    ys = torch.nonzero(mouth > 0.5)[:, 0].float().mean()
    ye = torch.nonzero(eyes > 0.5)[:, 0].float().mean()
    assert ys > ye  # the mouth is below the eyes
    with pytest.raises(ValueError, match="unknown region 'ears'"):
        region_mask(lm, "ears", 64, 256)


def test_masks_are_checked_loaded_and_resized(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        check_mask(torch.zeros(32, 32))
    with pytest.raises(ValueError, match="whole image"):
        check_mask(torch.ones(32, 32))
    path = tmp_path / "mask.png"
    Image.fromarray((square_mask().numpy() * 255).astype(np.uint8)).save(path)
    assert torch.equal(load_mask(path), square_mask())
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        load_mask(tmp_path / "notes.png")
    with pytest.raises(ValueError, match="square"):
        resize_mask(torch.ones(32, 48).triu(), 16)
    small = resize_mask(square_mask(), 16)
    assert small.shape == (16, 16) and float(small[8, 8]) == 1.0 and float(small[0, 0]) == 0.0
    soft = resize_mask(square_mask(), 64, feather=0.05)
    assert 0 < float(soft[20, 32]) < 1  # feathered edge


def test_transplant_stays_inside_and_keeps_the_outside(tiny):
    w, ref = tiny.sample_w(1, seed=1), tiny.sample_w(1, seed=2)
    mask = square_mask()
    out = transplant(tiny, w, ref, mask, LocalConfig(layer="b1"), size=64)
    outside = out.mask < 1e-6
    assert torch.equal(out.after[0][:, outside], out.before[0][:, outside])
    change = local_change(out.before, out.after, out.mask)
    assert change["inside"] > 0.05 and change["outside"] < 1e-3  # only the feather
    loose = transplant(tiny, w, ref, mask, LocalConfig(layer="b1", keep_outside=False), size=64)
    assert local_change(loose.before, loose.after, loose.mask)["outside"] > 0
    assert seam(out.before, out.after, out.mask) > 0


def test_masked_edit_and_layer_choice(tiny):
    w = tiny.sample_w(2, seed=3)
    edited = w + 0.8 * torch.randn(1, tiny.w_dim, generator=torch.Generator().manual_seed(0))
    out = masked_edit(tiny, w, edited, square_mask(), size=64)
    assert out.after.shape == (2, 3, 64, 64)
    assert out.layer == pick_layer(tiny, 64) == "b2"  # nearest 64 / 2
    with pytest.raises(ValueError, match="no feature layer 'b9'; choose one of conv1, b0"):
        transplant(tiny, w, edited[:1], square_mask(), LocalConfig(layer="b9"), size=64)
    with pytest.raises(ValueError, match="later must be one of"):
        LocalConfig(later="reference")
    with pytest.raises(ValueError, match="one face or one per base face"):
        transplant(tiny, w, tiny.sample_w(3, seed=0), square_mask(), size=64)


def test_masked_edit_keeps_the_given_before_image_outside(tiny):
    """A face shown through other means (a CLCAE inversion's F render) stays as shown
    outside the mask: the composite is over ``before``, not the W+ render."""
    w = tiny.sample_w(1, seed=3)
    edited = w + 0.8 * torch.randn(1, tiny.w_dim, generator=torch.Generator().manual_seed(0))
    shown = torch.rand(1, 3, 64, 64) * 2 - 1
    out = masked_edit(tiny, w, edited, square_mask(), size=64, before=shown)
    outside = (out.mask == 0).expand_as(out.after)
    assert outside.any() and torch.equal(out.after[outside], shown[outside])
    assert torch.equal(out.before, shown)
    plain = masked_edit(tiny, w, edited, square_mask(), size=64)
    assert not torch.equal(plain.after[outside], shown[outside])


def test_masked_edit_of_stylespace_codes(tiny):
    """An S edit (a dict of styles) inside the mask equals the W edit it was made from."""
    w = tiny.sample_w(2, seed=3)
    edited = w + 0.8 * torch.randn(1, tiny.w_dim, generator=torch.Generator().manual_seed(0))
    by_w = masked_edit(tiny, w, edited, square_mask(), size=64)
    by_s = masked_edit(tiny, w, tiny.w_to_s(edited), square_mask(), size=64)
    assert torch.allclose(by_w.after, by_s.after, atol=1e-5)
    one = masked_edit(tiny, w, tiny.w_to_s(edited[:1]), square_mask(), size=64)  # broadcast
    assert torch.allclose(one.after[0], by_w.after[0], atol=1e-5)
    outside = by_s.mask < 1e-6
    assert torch.equal(by_s.after[0][:, outside], by_s.before[0][:, outside])
    bad = dict(tiny.w_to_s(edited))
    bad.pop(next(iter(bad)))
    with pytest.raises(ValueError, match="style"):
        masked_edit(tiny, w, bad, square_mask(), size=64)


def test_cli_local_with_a_painted_mask(tmp_path, capsys):
    import json

    from stylelab.cli import main

    mask = tmp_path / "mask.png"
    Image.fromarray((square_mask().numpy() * 255).astype(np.uint8)).save(mask)
    out = tmp_path / "out"
    args = ["local", "--model", "tiny-test", "--size", "64", "--input", "seed:1",
            "--reference", "seed:2", "--layer", "b1"]
    assert main([*args, "--region", str(mask), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"before.png", "after.png", "mask.png",
                                               "result.json"}
    info = json.loads((out / "result.json").read_text())
    assert info["layer"] == "b1" and info["change"]["ratio"] > 10
    assert main([*args, "--region", "ears", "--out", str(tmp_path / "o2")]) == 2
    assert "a region (mouth, eyes" in capsys.readouterr().err
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 0).save(blank)
    assert main([*args, "--region", str(blank), "--out", str(tmp_path / "o3")]) == 2
    assert "the mask is empty" in capsys.readouterr().err


def test_stylespace_transplant_copies_only_the_chosen_channels(tiny):
    from stylelab.local import stylespace_transplant
    from stylelab.models.stylespace import flatten_styles

    w, ref = tiny.sample_w(1, seed=1), tiny.sample_w(1, seed=2)
    none = stylespace_transplant(tiny, w, ref, [], size=64)
    assert torch.allclose(none.after, none.before, atol=1e-6)
    some = stylespace_transplant(tiny, w, ref, list(range(0, 40)), square_mask(), size=64)
    assert local_change(some.before, some.after, some.mask)["inside"] > 0.01
    s = flatten_styles(tiny, tiny.w_to_s(w))
    assert s.shape[1] > 40
