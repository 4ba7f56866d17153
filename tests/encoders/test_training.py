"""The training scripts end to end on tiny models, in subprocesses: a few steps, exported
files with their metadata, and resuming from the saved step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str, cache: Path) -> str:
    env = {**os.environ, "STYLELAB_CACHE": str(cache), "TQDM_DISABLE": "1",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "training" / script), "--tiny",
                           "--threads", "1", "--device", "cpu", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train-cache")


def test_alignment_trains_and_resumes(cache):
    first = run("train_alignment.py", "--steps", "2", cache=cache)
    assert "steps: 2 (2 this sitting)" in first and "command: python" in first
    second = run("train_alignment.py", "--steps", "3", cache=cache)
    assert "resuming from step 2" in second and "steps: 3 (1 this sitting)" in second
    info = json.loads((cache / "encoders" / "tiny-test" / "aligner.json").read_text())
    assert info["steps"] == 3 and info["cpu_seconds"] > 0
    assert info["command"].startswith("python ") and "--tiny" in info["command"]
    assert 0 <= info["metrics"]["eval_top1_image_to_w"] <= 1
    state = json.loads((cache / "training" / "alignment" / "tiny-test" / "state.json")
                       .read_text())
    assert state["step"] == 3 and state["optimizer_groups"]


@pytest.mark.parametrize("kind", ["clcae", "e4e"])
def test_encoder_trains_and_resumes(cache, kind, monkeypatch):
    if kind == "clcae" and not (cache / "encoders" / "tiny-test" / "aligner.safetensors").exists():
        run("train_alignment.py", "--steps", "1", cache=cache)
    first = run("train_encoder.py", "--kind", kind, "--steps", "1", cache=cache)
    assert "steps: 1 (1 this sitting)" in first
    second = run("train_encoder.py", "--kind", kind, "--steps", "2", cache=cache)
    assert "resuming from step 1" in second and "steps: 2 (1 this sitting)" in second
    info = json.loads((cache / "encoders" / "tiny-test" / f"{kind}.json").read_text())
    assert info["steps"] == 2 and info["cpu_seconds"] > 0 and "--tiny" in info["command"]
    assert info["metrics"]["psnr_wplus"] > 10
    assert ("psnr_f" in info["metrics"]) == (kind == "clcae")
    if kind == "clcae":
        assert info["last_losses"]["align"] > 0

    # the exported file loads through the registry
    monkeypatch.setenv("STYLELAB_CACHE", str(cache))
    from stylelab.encoders import load_encoder

    assert load_encoder(f"tiny-test/{kind}").config.kind == kind


def test_missing_aligner_message(tmp_path):
    env = {**os.environ, "STYLELAB_CACHE": str(tmp_path), "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "training" / "train_encoder.py"),
                           "--tiny", "--threads", "1", "--kind", "clcae"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "train_alignment.py --model tiny-test --tiny" in proc.stderr
    assert "--align-weight 0" in proc.stderr


def test_clcae_starts_from_e4e(cache, tmp_path):
    e4e = cache / "encoders" / "tiny-test" / "e4e.safetensors"
    if not e4e.exists():
        run("train_encoder.py", "--kind", "e4e", "--steps", "1", cache=cache)
    if not (cache / "encoders" / "tiny-test" / "aligner.safetensors").exists():
        run("train_alignment.py", "--steps", "1", cache=cache)
    out = run("train_encoder.py", "--kind", "clcae", "--steps", "1", "--init-from", str(e4e),
              "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "clcae.safetensors"),
              cache=cache)
    assert "initialised" in out and (tmp_path / "clcae.safetensors").is_file()


def test_ablations_share_one_start_and_budget(cache, monkeypatch):
    """Every arm of training/ablate_clcae.py starts from the same encoder, trains the same
    steps, and lands in variants/ where benchmarks/encoders.py finds it."""
    e4e = cache / "encoders" / "tiny-test" / "e4e.safetensors"
    if not e4e.exists():
        run("train_encoder.py", "--kind", "e4e", "--steps", "1", cache=cache)
    if not (cache / "encoders" / "tiny-test" / "aligner.safetensors").exists():
        run("train_alignment.py", "--steps", "1", cache=cache)
    out = run("ablate_clcae.py", "--steps", "1", "--arms", "noalign,map2style",
              "--init-from", str(e4e), cache=cache)
    assert out.count("initialised") == 2 and "== arm noalign" in out
    folder = cache / "encoders" / "tiny-test" / "variants"
    for arm in ("noalign", "map2style"):
        info = json.loads((folder / f"ablate1-{arm}.json").read_text())
        assert info["steps"] == 1
    assert "align" not in json.loads((folder / "ablate1-noalign.json").read_text())["last_losses"]

    sys.path.insert(0, str(ROOT / "benchmarks"))
    monkeypatch.setenv("STYLELAB_CACHE", str(cache))
    from encoders import encoder_methods

    import stylelab.testing  # noqa: F401  (registers tiny-test)
    from stylelab import load_generator

    methods = encoder_methods(load_generator("tiny-test"), ["variants"])
    assert {"variant:ablate1-noalign-w", "variant:ablate1-noalign-w+f",
            "variant:ablate1-map2style-w+"} <= set(methods)
    assert "variant:ablate1-map2style-w+f" not in methods
