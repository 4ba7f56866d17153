"""Damaged, forged or hostile weight files: every loader answers with its own one-line error
that says what to do, never a raw library exception; NaN/Inf weights are never used; no code
from a checkpoint ever runs.

Covers the two checkpoint loaders (``load_rosinality``: torch.load(weights_only=True);
``load_nvidia_pkl``: the restricted unpickler), the safetensors weight cache
(``load_checked``, ``read_metadata``) and direction files (``Direction.load``).
Malicious-pickle tests extend ``tests/models/test_checkpoints.py`` (which covers
os.system / subprocess.Popen / builtins.eval globals in a plain NVIDIA pickle, Popen
nested in a network's state, module source never run, a protocol-0 os.system .pt).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import stylelab
from stylelab.cache import (
    CacheError,
    load_checked,
    read_metadata,
    save_checked,
    sha256_file,
)
from stylelab.directions.base import Direction, DirectionError
from stylelab.models.checkpoints import (
    CheckpointFormatError,
    UnsafeCheckpointError,
    load_nvidia_pkl,
    load_rosinality,
    rosinality_state_dict,
    save_rosinality,
)
from stylelab.models.stylegan2 import StyleGAN2
from stylelab.models.stylespace import latent_signature, s_dim
from stylelab.models.validate import first_non_finite
from stylelab.registry import load_generator_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from nvidia_helpers import fake_nvidia_modules, nvidia_tree, write_nvidia_pkl
from sg2_helpers import TINY, randomize

_ACTION = re.compile(r"\b(download|delete|pass|use|try|check|compute|get)\b", re.IGNORECASE)


def says_what_to_do(message: str) -> bool:
    """One non-empty line that contains an instruction."""
    message = message.strip()
    return bool(message) and "\n" not in message and _ACTION.search(message) is not None


def assert_refused(loader, path, error=CheckpointFormatError, match: str | None = None) -> str:
    """``loader(path)`` raises ``error`` with a one-line message that says what to do; the
    message, which never repeats torch's advice to retry with ``weights_only=False``."""
    with pytest.raises(error, match=match) as info:
        loader(path)
    message = str(info.value)
    assert says_what_to_do(message) and "will likely succeed" not in message, message
    return message


@pytest.fixture(scope="module")
def G() -> StyleGAN2:
    torch.manual_seed(0)
    return randomize(StyleGAN2(TINY))


@pytest.fixture
def nvidia(monkeypatch):
    return fake_nvidia_modules(monkeypatch)


def _param(tree, dotted: str) -> tuple[dict, str]:
    """The ``_parameters``/``_buffers`` dict of an NVIDIA tree holding ``dotted``, and the name."""
    *path, name = dotted.split(".")
    node = tree
    for part in path:
        node = node.state["_modules"][part]
    group = "_parameters" if name in node.state["_parameters"] else "_buffers"
    return node.state[group], name


# -------------------------------------------------------------- damaged checkpoints
def _rosinality_cases(G, tmp_path):
    """``{case: bytes or state dict}`` of broken rosinality checkpoints."""
    save_rosinality(G, tmp_path / "real.pt")
    real = (tmp_path / "real.pt").read_bytes()
    legacy = io.BytesIO()
    torch.save({"g_ema": rosinality_state_dict(G)}, legacy, _use_new_zipfile_serialization=False)
    wrong_zip, no_pickle = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(wrong_zip, "w") as zf:
        zf.writestr("archive/data.pkl", b"not a pickle")
    with zipfile.ZipFile(no_pickle, "w") as zf:
        zf.writestr("README.txt", b"hello")
    sd = rosinality_state_dict(G)
    cases = {"empty": b"", "text": b"just some text, not a checkpoint\n",
             "random": bytes(range(256)) * 40, "zip-wrong-contents": wrong_zip.getvalue(),
             "zip-without-pickle": no_pickle.getvalue(), "list": [1, 2],
             "legacy-truncated": legacy.getvalue()[:len(legacy.getvalue()) // 2],
             "missing-key": {"g_ema": {k: v for k, v in sd.items() if k != "convs.2.conv.weight"}},
             "wrong-shape": {"g_ema": sd | {"convs.1.conv.weight": torch.zeros(1, 32, 8, 3, 3)}},
             "latent-avg-shape": {"g_ema": sd | {"latent_avg": torch.zeros(7)}},
             "g_ema-not-dict": {"g_ema": 3}}
    cases |= {f"truncated-{n}": real[:n] for n in (1, 100, len(real) // 3, len(real) - 30)}
    return cases


def _write(path: Path, content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


@pytest.mark.parametrize("loader", [load_rosinality, load_generator_file])
def test_damaged_rosinality_checkpoints(G, tmp_path, loader):
    for name, content in _rosinality_cases(G, tmp_path).items():
        path = _write(tmp_path / f"{name}.pt", content)
        assert_refused(loader, path)
    assert_refused(loader, tmp_path / "nothing-here.pt", match="not found")


def _nvidia_cases(G, fake, tmp_path):
    """``{case: bytes}`` of broken NVIDIA pickles, from a real-format one."""
    write_nvidia_pkl(G, tmp_path / "real.pkl", fake)
    real = (tmp_path / "real.pkl").read_bytes()
    flipped = bytearray(real)
    flipped[2:40] = bytes(38)  # the header of the top-level dict zeroed out
    save_rosinality(G, tmp_path / "zip.pt")
    cases = {"empty": b"", "text": b"just some text, not a checkpoint\n",
             "random": bytes(range(256)) * 40, "flipped-header": bytes(flipped),
             "torch-zip": (tmp_path / "zip.pt").read_bytes(), "list": pickle.dumps([1, 2]),
             "no-network": pickle.dumps({"G_ema": {"a": 1}})}
    cases |= {f"truncated-{n}": real[:n] for n in (1, 2, 100, len(real) // 2, len(real) - 1)}
    for case, key, value in [("missing-key", "synthesis.b16.conv1.weight", None),
                             ("wrong-shape", "synthesis.b8.conv0.weight", torch.zeros(32, 5, 3, 3)),
                             ("wrong-shape-const", "synthesis.b4.const", torch.zeros(32, 2, 2))]:
        tree = nvidia_tree(G, fake)
        group, name = _param(tree, key)
        if value is None:
            del group[name]
        else:
            group[name] = value
        cases[case] = pickle.dumps({"G_ema": tree})
    return cases


@pytest.mark.parametrize("loader", [load_nvidia_pkl, load_generator_file])
def test_damaged_nvidia_pickles(G, nvidia, tmp_path, loader):
    for name, content in _nvidia_cases(G, nvidia, tmp_path).items():
        assert_refused(loader, _write(tmp_path / f"{name}.pkl", content))
    assert_refused(loader, tmp_path / "nothing-here.pkl", match="not found")


# ------------------------------------------------------------------ NaN / Inf weights
@pytest.mark.parametrize("key,bad", [("convs.0.conv.weight", float("nan")),
                                     ("noises.noise_3", float("inf")),
                                     ("style.2.bias", float("-inf")),
                                     ("latent_avg", float("nan"))])
def test_rosinality_nan_or_inf_weights_are_refused(G, tmp_path, key, bad):
    sd = rosinality_state_dict(G)
    latent_avg = sd.pop("latent_avg")
    ckpt = {"g_ema": sd, "latent_avg": latent_avg}
    target = ckpt if key == "latent_avg" else sd
    target[key] = target[key].clone()
    target[key].view(-1)[target[key].numel() // 2] = bad
    path = _write(tmp_path / "bad.pt", ckpt)
    assert_refused(load_rosinality, path, match="NaN or Inf")
    assert_refused(load_generator_file, path, match="NaN or Inf")


@pytest.mark.parametrize("key", ["synthesis.b16.conv1.weight", "mapping.w_avg",
                                 "synthesis.b4.const"])
def test_nvidia_nan_or_inf_weights_are_refused(G, nvidia, tmp_path, key):
    tree = nvidia_tree(G, nvidia)
    group, name = _param(tree, key)
    group[name] = group[name].detach().clone()
    group[name].view(-1)[-1] = float("nan") if "weight" in key else float("inf")
    path = _write(tmp_path / "bad.pkl", pickle.dumps({"G_ema": tree}))
    assert_refused(load_nvidia_pkl, path, match=re.escape(key))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_first_non_finite_finds_any_position(dtype):
    ok = [("empty", torch.empty(0, dtype=dtype)), ("int", torch.tensor([2**62])),
          ("fine", torch.randn(3, 5).to(dtype))]
    assert first_non_finite(ok) is None
    for bad in (float("nan"), float("inf"), float("-inf")):
        for pos in (0, 7, 1000 * 3 - 1):
            t = torch.randn(1000, 3).to(dtype)
            t.view(-1)[pos] = bad
            assert first_non_finite([*ok, ("bad", t), ("later", t)]) == "bad"
            assert first_non_finite([("strided", t.t()[pos % 3])]) in (None, "strided")
    t = torch.randn(1000, 3).to(dtype)
    t[500, 1] = float("nan")
    assert first_non_finite([("column", t[:, 1])]) == "column"


# --------------------------------------------------------------- malicious pickles
class Call:
    """Pickles as ``fn(*args)``: unpickling it calls ``fn`` unless the loader refuses ``fn``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _payloads(marker: Path) -> dict[str, Call]:
    """Objects whose unpickling would create ``marker`` (if anything ran)."""
    code = f"open({str(marker)!r}, 'w').close()"
    return {"os.system": Call(os.system, f"touch {marker}"),
            "builtins.exec": Call(builtins.exec, code),
            "subprocess.Popen": Call(subprocess.Popen, ["touch", str(marker)])}


def _raw_opcode_payloads(marker: Path) -> dict[str, bytes]:
    """Hand-written pickles that call ``os.system`` through INST, OBJ and STACK_GLOBAL."""
    cmd = f"touch {marker}".encode()
    return {"INST": b"(V" + cmd + b"\nios\nsystem\n.",
            "OBJ": b"(cos\nsystem\nV" + cmd + b"\no.",
            "STACK_GLOBAL": b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(cmd)])
            + cmd + b"\x85R."}


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_nvidia_pickles_run_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    blobs = {k: pickle.dumps(v, protocol=protocol) for k, v in _payloads(marker).items()}
    blobs |= {f"nested-{k}": pickle.dumps({"G_ema": {"state": [1, {"x": v}]}}, protocol=protocol)
              for k, v in _payloads(marker).items()}
    blobs |= _raw_opcode_payloads(marker)
    for name, blob in blobs.items():
        path = _write(tmp_path / f"{name}.pkl", blob)
        assert_refused(load_nvidia_pkl, path, UnsafeCheckpointError, match="refused global")
        assert_refused(load_generator_file, path, UnsafeCheckpointError)
        assert not marker.exists(), name


def _nested_pickle(G, fake, where: str, payload) -> bytes:
    """A loadable NVIDIA pickle carrying ``payload`` as an attribute or a buffer of one layer,
    or as a top-level entry next to ``G_ema``."""
    tree = nvidia_tree(G, fake)
    layer = tree.state["_modules"]["synthesis"].state["_modules"]["b8"]
    if where == "top-level":
        return pickle.dumps({"G_ema": tree, "augment_pipe": payload})
    if where == "attribute":
        layer.state["hook"] = payload
    else:
        layer.state["_buffers"]["noise_extra"] = payload
    return pickle.dumps({"G_ema": tree})


def test_malicious_payloads_nested_in_a_valid_nvidia_pickle_run_nothing(G, nvidia, tmp_path):
    """Inside an otherwise loadable pickle: a layer attribute, a buffer, a top-level entry, a
    tensor's storage bytes (read by torch's weights-only loader), a non-latin-1 codec, a
    persistent id."""
    marker = tmp_path / "pwned"
    cases = {}
    for name, payload in _payloads(marker).items():
        for where in ("attribute", "buffer", "top-level"):
            cases[f"{where}-{name}"] = _nested_pickle(G, nvidia, where, payload)
        storage = io.BytesIO()  # how plain pickles store tensors: torch.save bytes
        torch.save({"x": payload}, storage)
        cases[f"storage-{name}"] = _nested_pickle(
            G, nvidia, "attribute", Call(torch.storage._load_from_bytes, storage.getvalue()))
    for name, blob in cases.items():
        assert_refused(load_nvidia_pkl, _write(tmp_path / f"{name}.pkl", blob))
        assert not marker.exists(), name
    codec = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R."
    path = _write(tmp_path / "codec.pkl", codec)  # only latin-1, as protocol 2 writes bytes
    assert_refused(load_nvidia_pkl, path, UnsafeCheckpointError, match="codec 'rot13'")
    path = _write(tmp_path / "pid.pkl", b"\x80\x02X\x01\x00\x00\x00xQ.")
    assert_refused(load_nvidia_pkl, path, UnsafeCheckpointError, match="persistent id")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")  # the STACK_GLOBAL payload
def test_malicious_rosinality_checkpoints_run_nothing(G, tmp_path):
    """torch.load(weights_only=True) refuses each payload, alone or nested in a loadable
    checkpoint, in the zip and legacy formats and as a swapped-in data.pkl."""
    marker = tmp_path / "pwned"
    sd = rosinality_state_dict(G)
    cases: dict[str, object] = {}
    for name, payload in _payloads(marker).items():
        cases |= {name: payload, f"in-args-{name}": {"g_ema": sd, "args": payload},
                  f"in-state-{name}": {"g_ema": sd | {"style.1.weight": payload}},
                  f"in-list-{name}": {"g_ema": sd, "latent_avg": [payload]}}
    save_rosinality(G, tmp_path / "real.pt")
    for name, blob in _raw_opcode_payloads(marker).items():
        cases[f"raw-{name}"] = blob
        cases[f"swapped-{name}"] = _swap_data_pkl(tmp_path / "real.pt", blob)
    for name, content in cases.items():
        for legacy in (False, True):
            path = tmp_path / f"{name}.pt"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                torch.save(content, path, _use_new_zipfile_serialization=not legacy)
            message = assert_refused(load_rosinality, path, match="nothing in it was run")
            if not isinstance(content, bytes):  # torch's cause names the refused global
                assert re.search(r"GLOBAL \S*(system|exec|Popen)\b", message), message
            assert_refused(load_generator_file, path, match="weights_only")
            assert not marker.exists(), name


def _swap_data_pkl(real: Path, blob: bytes) -> bytes:
    """``real`` (a torch.save zip) with its ``data.pkl`` replaced by ``blob``."""
    out = io.BytesIO()
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = blob if item.filename.endswith("/data.pkl") else src.read(item)
            dst.writestr(item, data)
    return out.getvalue()


# ----------------------------------------------------------------- the weight cache
def _forge(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` and rewrite its sidecar to match."""
    path.write_bytes(data)
    path.with_suffix(".sha256").write_text(sha256_file(path) + "\n")


def test_forged_sidecar_still_fails_with_cache_error(tmp_path):
    path = tmp_path / "w.safetensors"
    save_checked(path, {"a": torch.ones(1000), "b": torch.zeros(10)}, {"config": "{}"})
    real = path.read_bytes()
    header_len = int.from_bytes(real[:8], "little")
    broken_header = real[:8] + b"{" * header_len + real[8 + header_len:]
    for name, data in {"garbage": b"garbage that is not safetensors at all", "empty": b"",
                       "truncated": real[:-100], "header-only": real[:8 + header_len],
                       "broken-header": broken_header}.items():
        _forge(path, data)
        with pytest.raises(CacheError) as info:
            load_checked(path)
        assert "delete it" in str(info.value) and says_what_to_do(str(info.value)), name
        with pytest.raises(CacheError, match="delete it"):
            read_metadata(path)


def test_unreadable_sidecar_is_a_cache_error(tmp_path):
    path = tmp_path / "w.safetensors"
    save_checked(path, {"a": torch.ones(3)})
    path.with_suffix(".sha256").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(CacheError, match="corrupt"):
        load_checked(path)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_cached_nan_or_inf_is_refused(tmp_path, dtype):
    for bad in (float("nan"), float("inf"), float("-inf")):
        path = tmp_path / "nan.safetensors"
        save_checked(path, {"ok": torch.ones(2), "ints": torch.arange(3),
                            "bad": torch.tensor([1.0, bad]).to(dtype), "zz": torch.ones(3)})
        with pytest.raises(CacheError, match="tensor 'bad' holds NaN or Inf") as info:
            load_checked(path)
        assert "delete the file" in str(info.value) and says_what_to_do(str(info.value))


# --------------------------------------------------------------------- directions
@pytest.fixture(scope="module")
def tiny():
    return stylelab.load_generator("tiny-test")


def test_forged_direction_signature_is_refused_on_load(tiny, tmp_path):
    G = tiny
    good = Direction(["a"], torch.randn(1, G.w_dim), "w", G.model_name, "test",
                     latent_signature(G, "w"))
    good.save(tmp_path / "good")
    Direction.load(tmp_path / "good").check(G)
    cases = {"wrong-dim": ({"vectors": torch.randn(1, G.w_dim + 5), "scales": torch.ones(1)},
                           "damaged or edited"),
             "nan": ({"vectors": torch.full((1, G.w_dim), float("nan")), "scales": torch.ones(1)},
                     "NaN"),
             "inf-scale": ({"vectors": torch.randn(1, G.w_dim),
                            "scales": torch.tensor([float("inf")])}, "NaN or Inf"),
             "scales-shape": ({"vectors": torch.randn(1, G.w_dim), "scales": torch.ones(3)},
                              "scales"),
             "3-d": ({"vectors": torch.randn(1, 1, G.w_dim), "scales": torch.ones(1)}, "vectors")}
    for tensors, match in cases.values():
        save_file(tensors, str(tmp_path / "good.safetensors"))  # the JSON still claims it fits
        assert_refused(Direction.load, tmp_path / "good", DirectionError, match=match)


def test_forged_stylespace_direction_is_refused_on_load(tiny, tmp_path):
    G = tiny
    sig = latent_signature(G, "s")
    Direction(["c"], torch.randn(1, s_dim(G)), "s", G.model_name, "test", sig).save(tmp_path / "s")
    save_file({"vectors": torch.randn(1, s_dim(G) - 1), "scales": torch.ones(1)},
              str(tmp_path / "s.safetensors"))
    assert_refused(Direction.load, tmp_path / "s", DirectionError, match=r"damaged or edited")


def test_malformed_direction_json_is_a_direction_error(tiny, tmp_path):
    G = tiny
    Direction(["a"], torch.randn(1, G.w_dim), "w", G.model_name, "test",
              latent_signature(G, "w"), layers=(0, 2)).save(tmp_path / "d")
    meta = json.loads((tmp_path / "d.json").read_text())
    for text in ("null", "[]", "{", json.dumps(meta | {"layers": []}),
                 json.dumps(meta | {"evil": 1}), json.dumps(meta | {"space": "x"})):
        (tmp_path / "d.json").write_text(text)
        assert_refused(Direction.load, tmp_path / "d", DirectionError)
    (tmp_path / "d.json").write_text(json.dumps(meta))
    (tmp_path / "d.safetensors").write_bytes(b"garbage")
    assert_refused(Direction.load, tmp_path / "d", DirectionError, match="compute")
