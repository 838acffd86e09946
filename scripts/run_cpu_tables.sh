#!/usr/bin/env bash
# Train and score the papers' harmonization tables at the CPU scale, one seed at a time across
# all tables, the rows that test the papers' main claims first, so that a session cut off
# anywhere leaves whole rows: [ST] Table III, [ST] Table II (shares Table III's runs), [FS]
# Table I. Resumable: rerun it; finished runs are skipped. Progress: results/<table>/summary.md
# after every run (a call that names one method writes that table with that method only; the
# table's full call that follows rewrites it whole).
set -euo pipefail
cd "$(dirname "$0")/.."
STRIPES=${STRIPES:-.venv/bin/stripes}
# STRIPES_SRC: train from a frozen copy of src/ (PYTHONPATH) while src/ is being edited
if [ -n "${STRIPES_SRC:-}" ]; then export PYTHONPATH="$STRIPES_SRC"; fi

run() {  # run TABLE SEEDS [METHOD]
  local extra=()
  if [ -n "${3:-}" ]; then extra=(--set "methods=[$3]" --set "grid={}"); fi
  # a failed run is reported and skipped: the rest of the queue still runs
  "$STRIPES" experiment run "configs/experiments/$1.yaml" --set "seeds=$2" "${extra[@]}" ||
    echo "run_cpu_tables: $1 $2 ${3:-all} FAILED (exit $?)" >&2
}

for seeds in "[0]" "[0,1]" "[0,1,2]"; do
  run st_table3_cpu "$seeds"
  run st_table2_cpu "$seeds" "{pe: rope, context: bin, pe_params: {variant: A}}"
  run st_table2_cpu "$seeds" "{pe: rope, context: bin, pe_params: {variant: B}}"
  for m in "{pe: fstripe, context: chord}" "{pe: none, context: time}" \
           "{pe: fstripe, context: fs}" "{pe: sine_spe, context: time}" \
           "{pe: sine_spe, context: fs}" "{pe: sine_spe, context: chord}"; do
    run fs_table1_cpu "$seeds" "$m"
  done
  run st_table2_cpu "$seeds"
  run fs_table1_cpu "$seeds"  # S S-RPE (quadratic, ~10x a linear run's time) comes last
done
