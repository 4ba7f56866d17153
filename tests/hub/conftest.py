"""Fixtures that serve ``app.py`` in a subprocess, offline, on a free port."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FACEAPI = REPO.parent / "shared" / "weights" / "faceapi"  # face-api.js files, when beside us
START_TIMEOUT_S = 240  # importing gradio plus a first real-model conversion on 2 slow cores


@dataclass
class Hub:
    """A running hub: its URL and the file its output goes to."""

    url: str
    log: Path
    proc: subprocess.Popen

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def alive(self) -> bool:
        """Whether the server still answers HTTP."""
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_hub(model: str, workdir: Path, plugins: str = "",
               extra_env: dict[str, str] | None = None) -> Iterator[Hub]:
    """Run ``python app.py`` with ``model`` until the generator exits; always reap it.
    ``plugins``: STYLELAB_PLUGINS modules importable from this folder (e.g. clip_plugin)."""
    port = free_port()
    faceapi = {"FACEAPI_WEIGHTS": str(FACEAPI)} if FACEAPI.is_dir() else {}
    env = dict(faceapi | dict(os.environ), GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(workdir / "hf"), STYLELAB_MODEL=model,
               STYLELAB_CACHE=str(workdir / "cache"), GRADIO_TEMP_DIR=str(workdir / "gradio"),
               STYLELAB_PLUGINS=",".join(filter(None, ["stylelab.testing", plugins])),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                        os.environ.get("PYTHONPATH")])),
               **(extra_env or {}))
    log = workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(f"http://127.0.0.1:{port}/", log, proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not hub.alive():
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{hub.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer within {START_TIMEOUT_S} s:\n{hub.log_tail()}")
            time.sleep(0.5)
        yield hub
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it was started in its own session), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub with the tiny random model (fast) and a constructed CLIP model
    (``clip_plugin``: no CLIP weights exist offline)."""
    yield from launch_hub("tiny-test", tmp_path_factory.mktemp("hub-tiny"), "clip_plugin")


@pytest.fixture(scope="session")
def hub_encoders(hub: Hub) -> None:
    """Untrained tiny e4e and CLCAE encoders for tiny-test where the hub's load_encoder finds
    them (its cache; encoders load on first use, so the running hub sees them)."""
    import torch

    from stylelab import load_generator
    from stylelab.encoders import Encoder, EncoderConfig, save_encoder

    G = load_generator("tiny-test")
    folder = hub.log.parent / "cache" / "encoders" / "tiny-test"
    for kind in ("e4e", "clcae"):
        torch.manual_seed(0)
        config = EncoderConfig.for_generator(G, kind, backbone="tiny-backbone", input_size=64,
                                             channels=16, style_hidden=16, f_hidden=16)
        save_encoder(Encoder(config, G), folder / f"{kind}.safetensors", {"steps": 0})


@pytest.fixture(scope="session")
def real_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub with the real default model, mobilestylegan-ffhq (weights from PyPI random-face)."""
    if importlib.util.find_spec("random_face") is None:
        pytest.skip("the real MobileStyleGAN weights need PyPI random-face "
                    "(pip install --no-deps random-face==2021.7.21.1)")
    yield from launch_hub("mobilestylegan-ffhq", tmp_path_factory.mktemp("hub-real"))


@pytest.fixture(scope="module")
def load_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A tiny-model hub whose sessions expire after 6 s (tests/hub/test_load.py)."""
    yield from launch_hub("tiny-test", tmp_path_factory.mktemp("hub-load"),
                          extra_env={"STYLELAB_HUB_SESSION_TTL": "6"})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failure, attach the tail of each hub's server log the test used (a CI run keeps
    nothing else: the log is how a timeout in the browser gets explained)."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for name in ("hub", "real_hub", "load_hub"):
        hub = getattr(item, "funcargs", {}).get(name)
        if isinstance(hub, Hub) and hub.log.exists():
            report.sections.append((f"{name} server log (tail)", hub.log_tail(4000)))
