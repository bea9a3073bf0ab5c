#!/usr/bin/env bash
# Put a pinned uv in .tools/ using only python3 (no uv, pipx or root needed). Prints uv's path.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if [ -x .tools/bin/uv ]; then echo .tools/bin/uv; exit 0; fi
if python3 -m venv .tools >/dev/null 2>&1 && [ -x .tools/bin/pip ]; then
  .tools/bin/pip install -q "uv==${UV_VERSION}" >&2
else
  # Debian's python3 without python3-venv: install the wheel into a plain folder instead.
  rm -rf .tools && mkdir -p .tools/bin
  python3 -m pip install -q --target .tools/pkg "uv==${UV_VERSION}" >&2
  ln -sf ../pkg/bin/uv .tools/bin/uv
fi
echo .tools/bin/uv
