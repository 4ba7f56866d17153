"""training/train_appearance.py end to end on the tiny generator: export, metadata, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stylelab.cache import load_checked

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cache: Path) -> str:
    env = {**os.environ, "STYLELAB_CACHE": str(cache), "TQDM_DISABLE": "1",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "training" / "train_appearance.py"),
                           "--tiny", "--threads", "1", "--device", "cpu", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_appearance_trains_exports_and_resumes(tmp_path):
    first = run("--steps", "2", cache=tmp_path)
    assert "steps: 2 (2 this sitting)" in first and "held-out top-1" in first
    second = run("--steps", "3", cache=tmp_path)
    assert "resuming from step 2" in second and "steps: 3 (1 this sitting)" in second
    out = tmp_path / "appearance" / "tiny-test.safetensors"
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["steps"] == 3 and info["cpu_seconds"] > 0 and "--tiny" in info["command"]
    assert 0 <= info["metrics"]["heldout_top1"] <= 1 and info["data"]["seed"] == 0
    state = load_checked(out)
    assert state["conv.weight"].dtype.is_floating_point and int(state["bins"]) == 8
