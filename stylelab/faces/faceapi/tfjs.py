"""Read TensorFlow.js "layers"-free weight files: ``<model>-weights_manifest.json`` + shards.

No TensorFlow.js is needed. A manifest is a JSON list of *groups*; each group
names its shard files (``paths``, concatenated in order into one byte buffer)
and lists its tensors (``weights``) in buffer order::

    [{"paths": ["age_gender_model-shard1"],
      "weights": [{"name": "entry_flow/conv_in/filters", "shape": [3, 3, 3, 32],
                   "dtype": "float32",
                   "quantization": {"dtype": "uint8", "scale": 0.0054, "min": -0.744}},
                  ...]}]

A quantized tensor stores one ``uint8``/``uint16`` code per element and is
dequantized as ``value = code * scale + min``; a ``float16`` quantization
stores half floats. Unquantized tensors are little-endian ``float32`` /
``int32`` (4 bytes) or ``bool`` (1 byte). Arrays keep the TF layout (for
example conv filters are ``[kh, kw, in, out]``); :mod:`.nets` converts them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# dtype of the stored codes -> numpy dtype (little-endian)
_STORED = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}
_OUTPUT = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


class TFJSFormatError(ValueError):
    """The manifest or its shards are missing, malformed, truncated or inconsistent."""


def manifest_path(folder: str | Path, model: str) -> Path:
    """``<folder>/<model>-weights_manifest.json`` (``model`` e.g. ``"age_gender_model"``)."""
    return Path(folder) / f"{model}-weights_manifest.json"


def shard_names(manifest: str | Path) -> list[str]:
    """The shard file names a manifest refers to, in order."""
    return [p for group in _read_manifest(Path(manifest)) for p in group["paths"]]


def read_tfjs_weights(manifest: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js model as float32/int32/bool arrays in TF layout.

    ``manifest`` is the ``*-weights_manifest.json``; its shards are read from the
    same folder. Raises :class:`TFJSFormatError` for a missing shard, a shard
    whose size does not match the manifest (truncated or corrupt), an unknown
    dtype or a duplicated tensor name.
    """
    manifest = Path(manifest)
    out: dict[str, np.ndarray] = {}
    for group in _read_manifest(manifest):
        buffer = _read_group_buffer(manifest.parent, group["paths"])
        offset = 0
        for entry in group["weights"]:
            array, offset = _decode(entry, buffer, offset, manifest.name)
            if entry["name"] in out:
                raise TFJSFormatError(f"{manifest.name}: tensor {entry['name']!r} listed twice")
            out[entry["name"]] = array
        if offset != len(buffer):
            raise TFJSFormatError(
                f"{manifest.name}: shards {group['paths']} hold {len(buffer)} bytes but the "
                f"manifest describes {offset}; the files are corrupt or do not belong together"
            )
    return out


def _read_manifest(path: Path) -> list[dict]:
    try:
        groups = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise TFJSFormatError(f"no TF.js manifest at {path}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TFJSFormatError(f"{path.name} is not valid JSON ({exc})") from exc
    ok = isinstance(groups, list) and all(
        isinstance(g, dict) and isinstance(g.get("paths"), list) and isinstance(g.get("weights"), list)
        for g in groups
    )
    if not ok:
        raise TFJSFormatError(f"{path.name} is not a TF.js weights manifest (list of {{paths, weights}})")
    return groups


def _read_group_buffer(folder: Path, paths: list[str]) -> bytes:
    chunks = []
    for name in paths:
        shard = folder / name
        if Path(name).name != name:
            raise TFJSFormatError(f"shard name {name!r} must be a plain file name")
        if not shard.is_file():
            raise TFJSFormatError(f"missing TF.js shard {shard}")
        chunks.append(shard.read_bytes())
    return b"".join(chunks)


def _decode(entry: dict, buffer: bytes, offset: int, where: str) -> tuple[np.ndarray, int]:
    """Decode one manifest entry starting at ``offset``; return (array, next offset)."""
    name, shape, dtype = entry.get("name"), entry.get("shape"), entry.get("dtype")
    if not isinstance(name, str) or not isinstance(shape, list) or dtype not in _OUTPUT:
        raise TFJSFormatError(f"{where}: bad weight entry {entry!r} (dtype must be one of {list(_OUTPUT)})")
    quant = entry.get("quantization")
    if quant and quant.get("dtype") not in ("uint8", "uint16", "float16"):
        raise TFJSFormatError(f"{where}: {name}: unsupported quantization {quant!r}")
    stored = _STORED[quant["dtype"]] if quant else _STORED[dtype]
    count = int(np.prod(shape, dtype=np.int64))
    end = offset + count * stored.itemsize
    if end > len(buffer):
        raise TFJSFormatError(
            f"{where}: tensor {name!r} needs bytes [{offset}, {end}) but the shards hold only "
            f"{len(buffer)}; a shard is truncated"
        )
    codes = np.frombuffer(buffer, dtype=stored, count=count, offset=offset)
    if quant and quant["dtype"] in ("uint8", "uint16"):
        values = codes.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
    else:
        values = codes
    return values.astype(_OUTPUT[dtype]).reshape(shape), end
