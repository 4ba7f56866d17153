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
# CPU torch; override with STYLELAB_TORCH_SPEC (e.g. "torch" for the newest CUDA build).
"${pip[@]}" "${STYLELAB_TORCH_SPEC:-torch==2.13.0}"
# The embedded MobileStyleGAN weights (OpenVINO IR); its own pins are obsolete, hence --no-deps.
"${pip[@]}" --no-deps "random-face==2021.7.21.1"
case "$what" in
  app) "${pip[@]}" -e ".[app]" ;;
  test)
    "${pip[@]}" -e ".[test]"
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
