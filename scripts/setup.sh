#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment, torch (the pinned CPU wheel when torch is
# missing, so that pip never pulls a multi-gigabyte CUDA build), then stripes with every extra that
# pip installs by itself (`all`: music, web and dev; README, "Installing for one use").
set -euo pipefail
PY=${PY:-python3}
VENV=${VENV:-.venv}
TORCH_PIN=${STRIPES_TORCH_PIN:-torch==2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PY --version)"
    "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "[setup] torch missing: installing $TORCH_PIN"
    "$VENV/bin/pip" install -q "$TORCH_PIN"
fi
echo "[setup] installing stripes (editable, with the extras of .[all])"
"$VENV/bin/pip" install -q -e ".[all]"
"$VENV/bin/python" -c "import torch, stripes; print(f'[setup] ok: torch {torch.__version__}, stripes {stripes.__version__}')"
