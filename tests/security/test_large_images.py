"""Large photos with ``load_image(..., max_side=...)``: decoded downscaled (JPEG: DCT
scaling, the full-size pixels never exist) and freed (other formats), measured as the
peak and the retained resident memory of a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

SIZE = (6000, 4000)  # 24 megapixels: ~92 MiB decoded (Pillow keeps RGB in 4 bytes a pixel)
MAX_SIDE = 1024

_MEASURE = r"""
import gc, json, sys
from stylelab.faces.io import load_image

def status(field):  # MiB
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

out = {}
for key, path, side in json.loads(sys.argv[1]):
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    base = status("VmRSS")
    image = load_image(path, max_side=side)
    out[key] = {"size": image.size, "peak": status("VmHWM") - base}
    del image
    gc.collect()
    out[key]["kept"] = status("VmRSS") - base
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory) -> dict[str, Path]:
    """A 6000x4000 JPEG and PNG with detail (gradients and noise), made once."""
    folder = tmp_path_factory.mktemp("big")
    gradient = Image.linear_gradient("L").resize(SIZE)
    noise = Image.effect_noise((SIZE[0] // 16, SIZE[1] // 16), 50).resize(SIZE)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)))
    paths = {"jpeg": folder / "big.jpg", "png": folder / "big.png"}
    image.save(paths["jpeg"], quality=85)
    image.save(paths["png"], compress_level=1)
    return paths


def measure(runs: list[tuple[str, str, int | None]]) -> dict[str, dict]:
    """Load each (key, path, max_side) in one fresh process; sizes and MiB deltas."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(runs)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_large_photos_are_decoded_downscaled_and_freed(big_photos):
    jpeg, png = str(big_photos["jpeg"]), str(big_photos["png"])
    got = measure([("jpeg_small", jpeg, MAX_SIDE), ("png_small", png, MAX_SIDE),
                   ("jpeg_full", jpeg, None)])
    print(json.dumps(got, indent=1))  # the numbers, with pytest -s
    for key in ("jpeg_small", "png_small"):
        assert 0.75 * MAX_SIDE <= max(got[key]["size"]) <= MAX_SIDE, got[key]
    assert tuple(got["jpeg_full"]["size"]) == SIZE
    full = got["jpeg_full"]["peak"]
    assert full > 60, got  # the full decode really costs ~92 MiB
    # JPEG: DCT scaling, the full-size pixels never exist.
    assert got["jpeg_small"]["peak"] < full / 4, got
    # PNG: decoded in full (unavoidable), then reduced; the full-size pixels are freed.
    assert got["png_small"]["kept"] < full / 8, got
