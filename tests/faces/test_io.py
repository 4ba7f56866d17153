"""load_image: formats (by content), EXIF orientation, transparency, modes, bad and huge
files, downscaled decoding (max_side)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, features

from stylelab.faces import (
    CorruptImageError,
    FaceError,
    ImageLoadError,
    ImageTooLargeError,
    NotAnImageError,
    UnsupportedFormatError,
    load_image,
)


def _halves(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue."""
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:, : size[0] // 2] = (255, 0, 0)
    arr[:, size[0] // 2:] = (0, 0, 255)
    return Image.fromarray(arr)


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A minimal PNG whose IHDR claims ``width x height`` (the pixel data is bogus)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_formats_roundtrip(tmp_path, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    path = tmp_path / f"x.{fmt.lower()}"
    _halves().save(path, format=fmt, quality=95)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (40, 20)
    arr = np.asarray(img).astype(int)
    assert np.abs(arr[10, 5] - (255, 0, 0)).max() < 30
    assert np.abs(arr[10, 35] - (0, 0, 255)).max() < 30


def test_sources_path_bytes_file_and_pil(tmp_path):
    data = _encode(_halves(), "PNG")
    path = tmp_path / "x.png"
    path.write_bytes(data)

    class NonSeekable(io.RawIOBase):
        def __init__(self, payload: bytes):
            self._buf = io.BytesIO(payload)

        def readable(self):
            return True

        def readinto(self, b):
            return self._buf.readinto(b)

    sources = [path, str(path), data, bytearray(data), io.BytesIO(data), NonSeekable(data),
               _halves()]
    for src in sources:
        assert np.array_equal(np.asarray(load_image(src)), np.asarray(_halves())), type(src)


def test_exif_orientation_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    img = load_image(_encode(_halves(), "JPEG", exif=exif, quality=95))
    assert img.size == (20, 40)
    arr = np.asarray(img).astype(int)
    # Rotating clockwise puts the left (red) half on top.
    assert np.abs(arr[5, 10] - (255, 0, 0)).max() < 30
    assert np.abs(arr[35, 10] - (0, 0, 255)).max() < 30


def test_transparency_composited_on_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 5:, 3] = 255  # right half opaque red, left half fully transparent
    rgba[0, 0, 3] = 128
    img = np.asarray(load_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))).astype(int)
    assert tuple(img[5, 2]) == (255, 255, 255)
    assert tuple(img[5, 7]) == (255, 0, 0)
    assert tuple(img[0, 0, 1:]) in ((127, 127), (128, 128))  # half-transparent red on white


def test_la_and_palette_transparency():
    la = Image.new("LA", (4, 4), (0, 0))
    assert tuple(np.asarray(load_image(_encode(la, "PNG")))[0, 0]) == (255, 255, 255)
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.info["transparency"] = 1
    assert tuple(np.asarray(load_image(_encode(pal, "PNG", transparency=1)))[0, 0]) == \
        (255, 255, 255)
    pal.info.pop("transparency")
    assert tuple(np.asarray(load_image(_encode(pal, "PNG")))[0, 0]) == (0, 255, 0)


def test_grayscale_16bit_and_cmyk():
    gray = load_image(_encode(Image.new("L", (6, 6), 90), "PNG"))
    assert gray.mode == "RGB" and tuple(np.asarray(gray)[0, 0]) == (90, 90, 90)
    deep = Image.fromarray(np.full((6, 6), 65535 // 2, np.uint16))
    mid = np.asarray(load_image(_encode(deep, "PNG")))[0, 0]
    assert mid.tolist() in ([127, 127, 127], [128, 128, 128])
    cmyk = load_image(_encode(Image.new("CMYK", (6, 6), (0, 255, 255, 0)), "JPEG", quality=95))
    r, g, b = np.asarray(cmyk)[3, 3].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (200, 200, 3), np.uint8)), "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(path)


def test_text_file_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 20)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(path)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(b"")


def test_missing_file_and_bad_source(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="give a path"):
        load_image(12345)


def test_huge_png_header_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(10_000, 10_000))  # 100 megapixels claimed, ~100 bytes on disk
    # the file holds no pixel data, so only a refusal from the header can give this error
    with pytest.raises(ImageTooLargeError, match="100.0 megapixels.*downscale"):
        load_image(path)
    # Above Pillow's own decompression-bomb limit, even with a generous max_pixels.
    with pytest.raises(ImageTooLargeError, match="downscale"):
        load_image(_png_header(30_000, 30_000), max_pixels=10**10)


def test_max_pixels_applies_to_every_source():
    with pytest.raises(ImageTooLargeError):
        load_image(_halves(), max_pixels=100)
    with pytest.raises(ImageTooLargeError):
        load_image(_encode(_halves(), "PNG"), max_pixels=100)
    assert issubclass(ImageTooLargeError, FaceError) and issubclass(FaceError, ValueError)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_accepted_formats(fmt):
    img = load_image(_encode(_halves(), fmt))
    assert img.mode == "RGB" and img.size == (40, 20)
    assert np.abs(np.asarray(img).astype(int)[10, 5] - (255, 0, 0)).max() < 30


def test_format_is_identified_by_content_not_name(tmp_path):
    path = tmp_path / "photo.gif"
    path.write_bytes(_encode(_halves(), "PNG"))
    assert load_image(path).size == (40, 20)
    eps = tmp_path / "photo.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(UnsupportedFormatError, match="EPS.*PNG, JPEG, WebP, GIF, BMP or TIFF"):
        load_image(eps)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(NotAnImageError, match="empty"):
        load_image(empty)


def test_corrupt_accepted_format():
    with pytest.raises(CorruptImageError, match="PNG header is damaged"):
        load_image(_encode(_halves(), "PNG")[:30])
    assert issubclass(CorruptImageError, ImageLoadError)


def _detailed(size) -> Image.Image:
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), np.uint8))
    return small.resize(size, Image.Resampling.BILINEAR)


@pytest.mark.parametrize(("fmt", "max_side", "expected"), [
    ("JPEG", 1024, (1024, 768)),  # DCT 1/2 -> 1200x900, then resized
    ("JPEG", 600, (600, 450)),  # DCT 1/4 exactly
    ("JPEG", 700, (600, 450)),  # DCT 1/4 (600 >= 3/4 of 700), no resize
    ("PNG", 600, (600, 450)),  # reduce(4)
    ("PNG", 1100, (1100, 825)),  # reduce(3) would give 800 < 3/4 of 1100: Lanczos
    ("PNG", 5000, (2400, 1800)),  # already small enough: untouched
])
def test_max_side_downscales(fmt, max_side, expected):
    data = _encode(_detailed((2400, 1800)), fmt, quality=90)
    img = load_image(data, max_side=max_side)
    assert img.mode == "RGB" and img.size == expected
    full = load_image(data).resize(expected, Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(img, float) - np.asarray(full, float)).mean() < 6.0


def test_max_side_jpeg_is_decoded_at_reduced_scale(monkeypatch):
    from PIL import JpegImagePlugin

    scales = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real(self, mode, size)
        scales.append(self.decoderconfig[0])
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    load_image(_encode(_detailed((2400, 1800)), "JPEG"), max_side=300)
    assert scales == [8]


def test_max_side_keeps_exif_orientation_and_pil_sources():
    exif = Image.Exif()
    exif[0x0112] = 6
    img = load_image(_encode(_halves((400, 200)), "JPEG", exif=exif, quality=95), max_side=100)
    assert img.size == (50, 100)
    arr = np.asarray(img).astype(int)
    assert np.abs(arr[10, 25] - (255, 0, 0)).max() < 40  # red half on top
    given = _halves((400, 200))
    assert load_image(given, max_side=100).size == (100, 50)
    assert given.size == (400, 200) and given.getpixel((0, 0)) == (255, 0, 0)  # untouched
    with pytest.raises(ValueError, match="max_side"):
        load_image(given, max_side=0)
