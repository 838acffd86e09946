"""``stripes harmonize``: a trained harmonizer arranges a user's melody."""

from __future__ import annotations

import argparse
import sys


def add(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("harmonize", help="arrange a melody MIDI with a trained harmonizer")
    h.add_argument("midi", help="MIDI file holding the melody (4/4)")
    h.add_argument("--checkpoint", default="pop909",
                   help="harmonizer: a shipped name (pop909, chorales), a weights folder, a run "
                        "folder or a checkpoint file in one (default: pop909)")
    src = h.add_mutually_exclusive_group(required=True)
    src.add_argument("--chords", help="chords file: 'label [pitch classes] bass beats' per line")
    src.add_argument("--chord-track", help="MIDI track of block chords (one chord per beat)")
    h.add_argument("--melody-track", help="melody track name (default: MELODY or the only one)")
    h.add_argument("--bridge-track",
                   help="bridge track name, the POP909 harmonizer's second input (default: a "
                        "track named BRIDGE; without one the model hears an empty bridge)")
    h.add_argument("--key", default="C:maj", help="key of the song, e.g. 'Gb:maj' (KEY context)")
    h.add_argument("--density", type=positive_float, default=1.0,
                   help="how busy the accompaniment is: multiplies the odds of every strike "
                        "(2: busier, 0.5: sparser; default 1, as validated)")
    h.add_argument("--variation", type=int, default=0, metavar="N",
                   help="0: the validated arrangement; another number: a variation (another "
                        "rhythmic figure, the same in every bar), for 'try again'")
    h.add_argument("--out", default="harmonized.mid",
                   help="output MIDI, written at exactly this path (.mid or .midi; a WAV and a "
                        "PNG are written beside it); never one of the inputs")
    h.add_argument("--overwrite", action="store_true",
                   help="replace the MIDI, WAV or PNG if they exist (default: refuse)")
    h.set_defaults(func=_run_harmonize)


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _run_harmonize(args: argparse.Namespace) -> None:
    from stripes.arranger.arrange import harmonize_song
    from stripes.cli.checks import output_file

    output_file(args.out, (".mid", ".midi"))
    res = harmonize_song(
        args.checkpoint,
        args.midi,
        args.out,
        chords=args.chords,
        chord_track=args.chord_track,
        melody_track=args.melody_track,
        bridge_track=args.bridge_track,
        key=args.key,
        density=args.density,
        seed=args.variation,
        overwrite=args.overwrite,
    )
    for warning in res["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"arrangement: {res['midi']} ({res['steps']} steps at {res['qpm']:g} qpm; tracks "
          f"{', '.join(res['tracks'])})\n"
          f"audio:       {res['wav']} ({res['renderer']}, {res['wav_stats']['seconds']:.1f} s)\n"
          f"piano roll:  {res['png']}")
