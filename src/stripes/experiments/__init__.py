"""The papers' tables reproduced: grids of runs over methods and training seeds, and their
tables over seeds with significance tests, shared by both tasks.

Shared: :mod:`.grid` (the seed-major, resumable runner and the run folders), :mod:`.tables`
(mean ± std over seeds, best marked, against a reference), :mod:`.significance` (best vs next
best, context order), :mod:`.comparisons` (named pairs), :mod:`.paper` (the paper's numbers
beside ours). Per task: :mod:`.harmonization` ([ST] Tables II-III, [FS] Table 1:
``stripes experiment``) and :mod:`.lm` with :mod:`.lm_table` ([SPE] Table 6: ``stripes lm
compare``).
"""
