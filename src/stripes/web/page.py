"""The page: a form (melody, chords, phrase labels, model, density, variation) and its result
(piano roll, audio player, MIDI and WAV downloads, warnings in words).

:func:`run_request` does one request in a folder it is given and returns a :class:`PageResult`
(no gradio in it: the tests call it from threads); :func:`build_page` lays out the gradio page,
whose handler gives each request its own temporary folder, removed once gradio has copied the
result files into its own cache.
"""

from __future__ import annotations

import functools
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stripes.extras import needs
from stripes.web.adapter import ARRANGER_TAKES, arrange_for_page, model_varies
from stripes.web.inputs import (
    ChordsInput,
    Limits,
    check_upload,
    chords_for_arranger,
    phrase_runs,
    song_bars,
)
from stripes.web.messages import error_message, warning_message

log = logging.getLogger(__name__)

#: The models the page offers: label shown -> ``--checkpoint`` of ``stripes harmonize``.
SHIPPED_MODELS = {"POP909 pop piano": "pop909", "Bach chorale (organ)": "chorales"}
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
KEYS = [f"{tonic}:{mode}" for mode in ("maj", "min")
        for tonic in ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")]
CHORD_SOURCE_LABELS = [("Type chord symbols", "typed"), ("Upload a chords file", "file"),
                       ("A track of the MIDI", "track")]


@dataclass(frozen=True)
class PageRequest:
    """One submission of the form; ``midi`` and the chords file are uploaded paths."""

    midi: Path | None
    chords: ChordsInput
    model: str
    melody_track: str = ""
    key: str = "C:maj"
    phrases: str = ""
    density: float = 1.0
    seed: int = 0


@dataclass
class PageResult:
    """What the page shows: ``status`` (an error, or what was made), ``warnings`` (in words),
    and the files (None after an error)."""

    status: str
    warnings: list[str] = field(default_factory=list)
    png: Path | None = None
    wav: Path | None = None
    midi: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.midi is not None


def run_request(request: PageRequest, folder: Path, limits: Limits) -> PageResult:
    """Check and arrange one request inside ``folder`` (the request's own); every failure is a
    :class:`PageResult` with a message, never an exception."""
    names = {str(p): Path(p).name for p in (request.midi, request.chords.file) if p is not None}
    names[str(folder)] = "(upload)"
    try:
        return _arrange(request, folder, limits)
    except Exception as err:  # the page answers every failure in words; the log keeps the trace
        if not isinstance(err, ValueError | OSError):
            log.exception("request failed")
        return PageResult(status=error_message(err, names))


def _arrange(request: PageRequest, folder: Path, limits: Limits) -> PageResult:
    start = time.perf_counter()
    midi = check_upload(request.midi, "melody MIDI file", limits)
    bars = song_bars(midi, limits)
    chords = chords_for_arranger(request.chords, bars, folder, limits)
    phrases, notes = phrase_runs(request.phrases, bars, limits)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", midi.stem)[:40] or "melody"
    out = folder / f"{stem}_arranged_v{request.seed}.mid"
    res = arrange_for_page(midi, out, model=request.model, **chords,
                           melody_track=request.melody_track.strip() or None, key=request.key,
                           phrases=phrases, density=request.density, seed=request.seed)
    seconds = time.perf_counter() - start
    status = (f"Arranged {bars} bars at {res['qpm']:g} quarter notes per minute, variation "
              f"{request.seed}, in {seconds:.1f} s.")
    notes += [warning_message(w) for w in res["warnings"]]
    return PageResult(status=status + _controls_note(request), warnings=notes,
                      png=Path(res["png"]), wav=Path(res["wav"]), midi=Path(res["midi"]),
                      seconds=seconds)


def _controls_note(request: PageRequest) -> str:
    """What the chosen controls did, for those the arranger does not take (see the adapter)."""
    said = []
    if not ARRANGER_TAKES["density"] and request.density != 1.0:
        said.append("density is not used by this build's arranger yet")
    if not ARRANGER_TAKES["phrases"] and request.phrases.strip():
        said.append("phrase labels are checked but not read: the shipped harmonizers follow "
                    "the chords")
    if not _varies(request.model):
        said.append("this model gives the same arrangement for every variation (its "
                    "positional encoding draws nothing at random)")
    return "".join(f" Note: {s}." for s in said)


@functools.lru_cache(maxsize=8)
def _varies(model: str) -> bool:
    try:
        return model_varies(model)
    except (ValueError, OSError):  # the arrangement itself reports a model that cannot load
        return True


def warm_up(models: dict[str, str]) -> None:
    """Load each model once and import the arranger's renderers before the first request, so
    that it does not wait for them."""
    import stripes.arranger.arrange  # noqa: F401
    import stripes.arranger.render  # noqa: F401

    for checkpoint in models.values():
        _varies(checkpoint)


def request_folder(root: Path) -> tempfile.TemporaryDirectory:
    """A fresh folder for one request under the server's ``root`` (removed when closed)."""
    return tempfile.TemporaryDirectory(prefix="request-", dir=root)


def build_page(models: dict[str, str], limits: Limits, root: Path):
    """The gradio ``Blocks`` of the page; requests work in folders under ``root``."""
    with needs("web"):
        import gradio as gr

    with gr.Blocks(title="stripes: arrange a melody", analytics_enabled=False,
                   delete_cache=(600, 3600)) as page:
        gr.Markdown("## stripes: arrange a melody\nUpload a melody (MIDI, 4/4) or take the "
                    "example, give its chords, and press **Arrange**. Everything runs on this "
                    "computer.")
        form = _form(gr, list(models), limits)
        out = _results(gr)

        def handle(*values) -> Iterator[tuple]:
            request = _request(dict(zip(FORM_FIELDS, values, strict=True)), models)
            # one folder per request, removed when gradio resumes the generator: by then it
            # has copied the yielded files into its own cache
            with request_folder(root) as folder:
                yield _outputs(run_request(request, Path(folder), limits))

        inputs = [form[name] for name in FORM_FIELDS]
        outputs = [out[name] for name in RESULT_FIELDS]
        form["source"].change(_shown_chord_inputs, form["source"],
                              [form[k] for k in ("typed", "repeat", "chords_file", "chord_track")])
        form["example"].click(_example, None, [form["midi"], form["source"], form["typed"]])
        form["go"].click(handle, inputs, outputs, concurrency_limit=2)
        form["again"].click(lambda s: int(s or 0) + 1, form["seed"], form["seed"]).then(
            handle, inputs, outputs, concurrency_limit=2)
    return page


FORM_FIELDS = ("midi", "source", "typed", "repeat", "chords_file", "chord_track", "melody_track",
               "key", "phrases", "model", "density", "seed")
RESULT_FIELDS = ("status", "warnings", "roll", "audio", "files")
EXAMPLE_CHORDS = "C G Am F"


def _form(gr, labels: list[str], limits: Limits) -> dict:
    """The form's components by name: melody and chords on the left, model and controls on the
    right (``elem_id`` s are what the browser test finds)."""
    f: dict = {}
    with gr.Row():
        with gr.Column():
            f["midi"] = gr.File(label="Melody (MIDI file, 4/4)", file_types=[".mid", ".midi"],
                                height=110, elem_id="midi")
            f["example"] = gr.Button("Use the example: Ode to Joy with " + EXAMPLE_CHORDS,
                                     size="sm", elem_id="example")
            f["source"] = gr.Radio(CHORD_SOURCE_LABELS, value="typed", label="Chords from",
                                   elem_id="chord-source")
            f["typed"] = gr.Textbox(label="Chord symbols: one per bar (C G Am F), two in a bar "
                                    "(| C G | Am F |), or beats (Am*2)", placeholder="C G Am F",
                                    max_length=limits.max_text_chars, elem_id="chords")
            f["repeat"] = gr.Checkbox(value=True, label="Repeat the chords to the end of the "
                                      "melody", elem_id="repeat")
            f["chords_file"] = gr.File(label="Chords file (label [tones] bass beats, per line)",
                                       file_types=[".txt"], height=110, visible=False,
                                       elem_id="chords-file")
            f["chord_track"] = gr.Textbox(label="Chord track (name of the MIDI track)",
                                          visible=False, elem_id="chord-track")
        with gr.Column():
            f["model"] = gr.Radio(labels, value=labels[0], label="Model", elem_id="model")
            f["density"] = gr.Slider(0.25, 2.0, value=1.0, step=0.05,
                                     label="Density (1 = the model's own)", elem_id="density")
            f["seed"] = gr.Number(value=0, precision=0, minimum=0, label="Variation",
                                  elem_id="seed")
            with gr.Accordion("Melody track, key, phrase labels", open=False):
                f["melody_track"] = gr.Textbox(label="Melody track (empty: the track named "
                                               "'melody', or the only one)")
                f["key"] = gr.Dropdown(KEYS, value="C:maj", label="Key")
                f["phrases"] = gr.Textbox(label="Phrase labels (letter and bars, e.g. A8A8B8B8)",
                                          max_length=limits.max_text_chars, elem_id="phrases")
            with gr.Row():
                f["go"] = gr.Button("Arrange", variant="primary", elem_id="arrange")
                f["again"] = gr.Button("Try again (next variation)", elem_id="again")
    return f


def _results(gr) -> dict:
    """The result's components by name: status, warnings, piano roll, player, downloads."""
    r = {"status": gr.Markdown(elem_id="status"), "warnings": gr.Markdown(elem_id="warnings"),
         "roll": gr.Image(label="Piano roll", type="filepath", interactive=False,
                          elem_id="pianoroll")}
    with gr.Row():
        r["audio"] = gr.Audio(label="Listen", type="filepath", interactive=False,
                              elem_id="audio")
        r["files"] = gr.File(label="Downloads (MIDI, WAV)", file_count="multiple",
                             interactive=False, elem_id="downloads")
    return r


def _request(values: dict, models: dict[str, str]) -> PageRequest:
    """The :class:`PageRequest` of the form's values (gradio gives None for empty inputs)."""
    chords = ChordsInput(values["source"], values["typed"] or "",
                         Path(values["chords_file"]) if values["chords_file"] else None,
                         values["chord_track"] or "", bool(values["repeat"]))
    return PageRequest(midi=Path(values["midi"]) if values["midi"] else None, chords=chords,
                       model=models.get(values["model"], values["model"]),
                       melody_track=values["melody_track"] or "",
                       key=values["key"] or "C:maj", phrases=values["phrases"] or "",
                       density=float(values["density"]), seed=int(values["seed"] or 0))


def _example() -> tuple[str, str, str]:
    """The form's melody, chord source and chords for the shipped example."""
    return str(EXAMPLES / "ode_to_joy" / "melody.mid"), "typed", EXAMPLE_CHORDS


def _shown_chord_inputs(source: str) -> list[dict]:
    """Visibility updates of (typed chords, repeat, chords file, chord track) for a source."""
    with needs("web"):
        import gradio as gr

    shown = {"typed": (True, True, False, False), "file": (False, False, True, False),
             "track": (False, False, False, True)}[source]
    return [gr.update(visible=v) for v in shown]


def _outputs(result: PageResult) -> tuple:
    """The page's outputs (status, warnings, piano roll, audio, downloads) of a result."""
    if not result.ok:
        return (f"**Could not arrange.** {result.status}", "", None, None, None)
    warnings = "\n".join(f"- {w}" for w in result.warnings)
    files = [str(p) for p in (result.midi, result.wav) if p is not None]
    return (result.status, f"**Warnings**\n\n{warnings}" if warnings else "",
            str(result.png), str(result.wav), files)
