#!/usr/bin/env bash
# Train and score the papers' harmonization tables at the CPU scale, one seed at a time across
# all tables, the rows that test the papers' main claims first, so that a session cut off
# anywhere leaves whole rows: [ST] Table III, [ST] Table II (shares Table III's runs), [FS]
# Table I. Resumable: rerun it; finished runs are skipped. Progress: results/<table>/summary.md
# after every run (a call that names one method writes that table with that method only; the
# table's full call that follows rewrites it whole, as does `stripes experiment tables`).
#
# WORKER=a / WORKER=b split the queue into two disjoint halves that may run side by side (each
# with THREADS=1 on a 2-core machine): a trains [ST] Table III and the linear [FS] Table I
# rows, b the rest of [ST] Table II and S S-RPE's first seed; each then trains one of S S-RPE's
# last two seeds. No run is in both halves, so two workers never
# write the same run folder. Default (WORKER unset): everything, in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
STRIPES=${STRIPES:-.venv/bin/stripes}
# STRIPES_SRC: train from a frozen copy of src/ (PYTHONPATH) while src/ is being edited
if [ -n "${STRIPES_SRC:-}" ]; then export PYTHONPATH="$STRIPES_SRC"; fi
if [ -n "${THREADS:-}" ]; then export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"; fi
WORKER=${WORKER:-all}

run() {  # run TABLE SEEDS [METHOD]
  local extra=()
  if [ -n "${3:-}" ]; then extra=(--set "methods=[$3]" --set "grid={}"); fi
  # a failed run is reported and skipped: the rest of the queue still runs
  "$STRIPES" experiment run "configs/experiments/$1.yaml" --set "seeds=$2" "${extra[@]}" ||
    echo "run_cpu_tables: $1 $2 ${3:-all} FAILED (exit $?)" >&2
}

FS_LINEAR=("{pe: fstripe, context: chord}" "{pe: none, context: time}"
           "{pe: fstripe, context: fs}" "{pe: sine_spe, context: time}"
           "{pe: sine_spe, context: fs}" "{pe: sine_spe, context: chord}"
           "{pe: fstripe, context: melody}" "{pe: fstripe, context: phrase}")
# [ST] Table II rows that Table III does not train
ST2_OWN=("{pe: rope, context: rep, pe_params: {variant: C}}")
for v in A B; do for c in bin key rep time; do
  [ "$v$c" = Brep ] || ST2_OWN+=("{pe: rope, context: $c, pe_params: {variant: $v}}")
done; done
ST2_OWN+=("{pe: rope, context: bin, pe_params: {variant: A, structure_map: legacy}}")
SRPE="{pe: structure_rpe, context: fs, attention: softmax}"  # quadratic (fused low-rank bias): ~2x a linear run

for seeds in "[0]" "[0,1]" "[0,1,2]"; do
  if [ "$WORKER" != b ]; then
    run st_table3_cpu "$seeds"
    for m in "${FS_LINEAR[@]}"; do run fs_table1_cpu "$seeds" "$m"; done
  fi
  if [ "$WORKER" != a ]; then
    for m in "${ST2_OWN[@]}"; do run st_table2_cpu "$seeds" "$m"; done
    # one seed of S S-RPE before the third seed of everything else
    if [ "$seeds" = "[0,1]" ]; then run fs_table1_cpu "[0]" "$SRPE"; fi
  fi
done
# the last S S-RPE seeds, one per worker when two run side by side
case "$WORKER" in
  a) run fs_table1_cpu "[1]" "$SRPE" ;;
  b) run fs_table1_cpu "[2]" "$SRPE" ;;
  *) run fs_table1_cpu "[0,1,2]" "$SRPE" ;;
esac
