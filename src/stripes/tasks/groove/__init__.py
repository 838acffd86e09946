"""Groove continuation ([SPE] Sec. 3.3, App. C.2): trio data (POP909 offline, Groove2Groove for
users who have it), the augmentation, constrained sampling and the style-over-time protocol.
The training recipes, the runner and the figure are not built yet (docs/groove.md)."""
