#!/usr/bin/env bash
# [SPE] Table 6 at the CPU scale (configs/lm/reduced/): first its three rows (APE, sineSPE gated,
# convSPE gated), then the ungated SPEs beside them, three training seeds each, seed-major;
# writes results/lm_spe_table6/ (table6.md and results.md after every run).
# Resumable: rerun it; finished runs are read back, an interrupted one continues from last.pt.
# THREADS (default: torch's) caps intra-op threads, e.g. 1 beside another training job.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${THREADS:-}" ]; then export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"; fi
STRIPES=${STRIPES:-.venv/bin/stripes}
# the token cache (music21's corpus, offline): built once, ~2 min
[ -f "${STRIPES_CACHE:-$HOME/.cache/stripes}/chorales/tokens.npz" ] || "$STRIPES" data prepare chorales
compare() {
  "$STRIPES" lm compare "$@" --name spe_table6 --out results --seeds 0 1 2 \
    --set run.progress=false
}
compare configs/lm/reduced/{ape,sine_spe_gated,conv_spe_gated}.yaml
compare configs/lm/reduced/{ape,sine_spe_gated,conv_spe_gated,sine_spe,conv_spe}.yaml
