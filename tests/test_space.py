"""The repository deploys as a Hugging Face Space: README front matter, entry point, and a
requirements.txt that installs everything app.py imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SPACE_KEYS = {"title", "sdk", "sdk_version", "app_file", "python_version", "license"}


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's YAML front matter"
    return yaml.safe_load(match[1])


def requirements() -> list[str]:
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def test_front_matter_names_a_gradio_space():
    meta = front_matter()
    assert SPACE_KEYS <= set(meta), SPACE_KEYS - set(meta)
    assert meta["sdk"] == "gradio" and (ROOT / meta["app_file"]).is_file()
    assert str(meta["python_version"]).startswith("3.")
    # the Space runs the Gradio version the hub is tested with
    assert meta["sdk_version"] == metadata.version("gradio")


def _closure(names: list[str]) -> set[str]:
    """Distributions ``names`` install (with their dependencies), normalised."""
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731
    seen: set[str] = set()
    todo = [norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [norm(re.split(r"[<>=!~\[; (]", r, maxsplit=1)[0]) for r in requires
                 if "extra ==" not in r]
    return seen


BLOCKER = """
import importlib.abc, importlib.machinery, sys
allowed = set(sys.argv[1].split(","))
def installed(top):  # found in site-packages (not the standard library)
    spec = importlib.machinery.PathFinder.find_spec(top)
    where = [spec.origin or ""] + list(spec.submodule_search_locations or []) if spec else []
    return any("-packages" in w for w in where)
class OnlyRequirements(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.builtin_module_names or not installed(top):
            return None
        raise ModuleNotFoundError(f"{top} is imported but requirements.txt does not install it",
                                  name=top)
sys.meta_path.insert(0, OnlyRequirements())
import app
demo = app.build_app()
print("built", len(demo.blocks))
"""


@pytest.mark.weights
def test_requirements_install_what_the_app_imports():
    """Build the hub in a subprocess that can import only the repository, the standard
    library and the distributions requirements.txt installs (gradio comes with the SDK)."""
    dists = _closure([*requirements(), "gradio"])
    modules = {"app", "spaces", "stylelab"}
    for module, owners in metadata.packages_distributions().items():
        if any(re.sub(r"[-_.]+", "-", d).lower() in dists for d in owners):
            modules.add(module)
    env = dict(os.environ, STYLELAB_PLUGINS="", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(sorted(modules))], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "built" in done.stdout
