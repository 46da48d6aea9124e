#!/usr/bin/env bash
# Set up Wisp on a fresh Debian machine: the Python package with its extras, the browser
# side (npm packages pinned in package.json: Pyodide, PyScript, onnxruntime-web) and, as
# root, the system packages (Mesa's lavapipe for WebGPU without a GPU, Chromium for the
# browser pages). Safe to run again: it skips what is already there.
#
#   bash scripts/setup.sh          # the main job: extras plot + web
#   bash scripts/setup.sh test     # the tests: extras test (torch, playwright, onnx, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-main}
case "$mode" in
  main) extras="plot,web" ;;
  test) extras="test" ;;
  *) echo "usage: bash scripts/setup.sh [main|test]" >&2; exit 2 ;;
esac

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
# Debian's own python3 refuses pip installs outside a venv (PEP 668).
if [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]; then
  export PIP_BREAK_SYSTEM_PACKAGES=1
fi

# System packages: lavapipe (software Vulkan, so WebGPU runs without a GPU) and Chromium.
missing=()
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: not root, cannot install ${missing[*]}: WebGPU/browser steps will skip"
  fi
fi

# Browser packages, exactly as package-lock.json pins them (no CDN at run time).
if command -v npm >/dev/null 2>&1; then
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "setup: npm not found: the browser site cannot be built (install Node.js >= 18)"
fi

python3 -m pip install -q -e ".[$extras]"
