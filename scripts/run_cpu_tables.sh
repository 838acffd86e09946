#!/usr/bin/env bash
# Train and score the papers' harmonization tables at the CPU scale, one seed at a time across
# all tables, so that a session cut off anywhere leaves whole rows: [ST] Table III, [ST] Table II
# (shares Table III's runs), [FS] Table I. Resumable: rerun it; finished runs are skipped.
# Progress: results/<table>/summary.md after every run; the log goes to results/cpu_tables.log.
set -euo pipefail
cd "$(dirname "$0")/.."
STRIPES=${STRIPES:-.venv/bin/stripes}
# STRIPES_SRC: train from a frozen copy of src/ (PYTHONPATH) while src/ is being edited
if [ -n "${STRIPES_SRC:-}" ]; then export PYTHONPATH="$STRIPES_SRC"; fi
for seeds in "[0]" "[0,1]" "[0,1,2]"; do
  for table in st_table3_cpu st_table2_cpu fs_table1_cpu; do
    "$STRIPES" experiment run "configs/experiments/$table.yaml" --set "seeds=$seeds"
  done
done
