"""Harmonization scoring, on arrays (no model): the papers' protocol (docs/metrics.md).

The one entry, :func:`score_harmonization`, takes the predicted probabilities of test windows
(and of validation windows, to choose the binarization on) and scores them: the
``(threshold, merge_gap)`` chosen on validation by a named criterion (:mod:`.binarization`), then
at every test length the model, the floors (empty prediction, copy of the input) and the rule
baseline (block chords from the given labels, :mod:`.baselines`) on the same windows in both
metric flavours (:mod:`.scoring`), for all slots, the accompaniment and each slot, with the
musical sanity of the model's and the rule's arrangements (:mod:`.sanity`), and the rhythm
figures of the accompaniment (:mod:`.rhythm`) for the model, the original and the rule.

The parts below it: :mod:`.rolls` (the pianoroll grid), :mod:`.reference_flavour` and
:mod:`.paper_flavour` (CS, SSMD, GS, NDD as the [S24] code and as the [ST]/[FS] text compute
them), :mod:`.layout` (which slots a harmonizer copies and which it invents).

A window is a mapping with ``probs`` and ``targets`` ``[T, n*128]``, ``inputs`` ``[T, m*128]``,
the given chords ``root`` and ``chroma`` ``[T]`` and its ``song`` id; an onset harmonizer's
windows also hold ``onset_probs`` and the original's ``onsets`` ``[T, n*128]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from stripes.evaluation.harmonization.baselines import baseline_predictions
from stripes.evaluation.harmonization.binarization import (
    FIGURE_CORES,
    FIGURE_SHARES,
    MERGE_GAPS,
    ONSET_THRESHOLDS,
    STRIKE_CAPS,
    THRESHOLDS,
    VOICE_HOLDS,
    NoteRoll,
    choose_binarization,
    criteria_for,
    decode_window,
    target_roll,
)
from stripes.evaluation.harmonization.layout import TrackLayout, layout_from_slots
from stripes.evaluation.harmonization.rhythm import (
    compare_rhythm,
    rhythm_figures,
    summarize_rhythm,
)
from stripes.evaluation.harmonization.rolls import select_slots
from stripes.evaluation.harmonization.sanity import sanity_check, sanity_warning, summarize_sanity
from stripes.evaluation.harmonization.scoring import (
    FLAVOURS,
    HIGHER_IS_BETTER,
    METRICS,
    evaluate_windows,
)

__all__ = ["HIGHER_IS_BETTER", "METRICS", "TrackLayout", "layout_from_slots",
           "score_harmonization", "score_windows"]

Window = Mapping


def score_harmonization(tests: Iterable[tuple[str, Sequence[Window]]], layout: TrackLayout, *,
                        validation: Sequence[Window] | None = None,
                        criterion: str = "frame_f1", thresholds: Sequence[float] = THRESHOLDS,
                        merge_gaps: Sequence[int] = MERGE_GAPS,
                        onset_thresholds: Sequence[float] = ONSET_THRESHOLDS,
                        strike_caps: Sequence[int] = STRIKE_CAPS,
                        voice_holds: Sequence[float] = VOICE_HOLDS,
                        figure_shares: Sequence[float] = FIGURE_SHARES,
                        figure_cores: Sequence[float] = FIGURE_CORES,
                        onset_weight: float = 1.0,
                        binarization: Mapping | None = None) -> dict:
    """Score the test windows of every length, binarized as chosen on ``validation`` windows.

    tests: ``(length name, [window, ...])`` pairs (e.g. ``("16", [...])``, ``("None", [...])``
    for whole pieces), consumed one at a time: a generator keeps one length in memory. layout:
    the slots the model copies and those it invents. The binarization is chosen on ``validation``
    by ``criterion`` over ``thresholds × merge_gaps`` (or the onset grid, the layout's voices
    and its free accompaniment slots for the figure decoder included, with the model's
    ``onset_weight``: :func:`~.binarization.choose_binarization`), or given (``binarization``:
    ``threshold``, ``merge_gap``), one of the two.

    Returns ``{"binarization": {criterion, threshold, merge_gap, score, grid} or the given one,
    "layout": {"names", "accompaniment"}, "test": {length: {"n", "songs", "flavours":
    {flavour: {"model": summary, "floors": {empty|copy|rule|readout: summary}}}, "per_window",
    "summary": reference all-slots {metric: {mean, std, n}}, "sanity": {model|rule: ...},
    "warning": str | None, "rhythm": :func:`score_rhythm`}}}`` (summaries as
    :func:`~.scoring.summarize_windows` writes them).
    """
    if binarization is not None and validation is None:
        choice = dict(binarization)
    elif validation is not None and binarization is None:
        choice = choose_binarization(validation, criterion, thresholds=thresholds,
                                     merge_gaps=merge_gaps, onset_thresholds=onset_thresholds,
                                     strike_caps=strike_caps, voices=layout.voices,
                                     voice_holds=voice_holds, figure_shares=figure_shares,
                                     figure_cores=figure_cores,
                                     figure_slots=layout.free_accompaniment,
                                     onset_weight=onset_weight, criteria=criteria_for(layout))
    else:
        raise ValueError("give validation windows to choose the binarization on, or a chosen "
                         "binarization: one of the two")
    return {"binarization": choice,
            "layout": {"names": list(layout.names), "accompaniment": list(layout.accompaniment)},
            "test": {length: score_windows(windows, choice, layout)
                     for length, windows in tests}}


def score_windows(windows: Sequence[Window], choice: Mapping, layout: TrackLayout) -> dict:
    """The model, the floors and the rule baseline on the same windows, in every flavour, and
    the sanity of the model's and the rule's arrangements (one test length of
    :func:`score_harmonization`)."""
    decoded = [decode_window(w, choice) for w in windows]
    preds = [d.frames for d in decoded]
    targets = [w["targets"] for w in windows]
    base = baseline_predictions([w["inputs"] for w in windows], [w["root"] for w in windows],
                                [w["chroma"] for w in windows], layout=layout)
    out: dict = {"n": len(windows), "songs": [w["song"] for w in windows], "flavours": {}}
    for flavour in FLAVOURS:
        model = evaluate_windows(preds, targets, flavour=flavour, layout=layout)
        floors = {name: evaluate_windows(p, targets, flavour=flavour, layout=layout)["summary"]
                  for name, p in base.items()}
        out["flavours"][flavour] = {"model": model["summary"], "floors": floors}
        if flavour == "reference":
            out["per_window"] = [{"song": w["song"], **{g: s[g] for g in ("all", "accompaniment")}}
                                 for w, s in zip(windows, model["per_window"], strict=True)]
    out["summary"] = {m: v for m, v in out["flavours"]["reference"]["model"]["all"].items()}
    out["sanity"] = {
        name: summarize_sanity([sanity_check(p, w["root"], w["chroma"], layout=layout)
                                for p, w in zip(rolls, windows, strict=True)])
        for name, rolls in (("model", preds), ("rule", base["rule"]))}
    out["warning"] = sanity_warning(out["sanity"]["model"], "the harmonizer")
    out["rhythm"] = score_rhythm(decoded, [target_roll(w) for w in windows],
                                 [NoteRoll(r) for r in base["rule"]], layout)
    return out


def score_rhythm(model: Sequence[NoteRoll], original: Sequence[NoteRoll],
                 rule: Sequence[NoteRoll], layout: TrackLayout) -> dict:
    """The rhythm figures (:mod:`.rhythm`) of the accompaniment the model invents, of the
    original's and of the rule's on the same windows, and the model's against the original's:
    ``{"model"|"original"|"rule": {figure: {mean, std, n}}, "comparison": compare_rhythm}``."""
    def figures(rolls: Sequence[NoteRoll]) -> dict:
        part = [(select_slots(r.frames, layout.accompaniment),
                 select_slots(r.note_onsets(), layout.accompaniment)) for r in rolls]
        return summarize_rhythm([rhythm_figures(f, o) for f, o in part])

    out = {"model": figures(model), "original": figures(original), "rule": figures(rule)}
    out["comparison"] = compare_rhythm(out["model"], out["original"])
    return out
