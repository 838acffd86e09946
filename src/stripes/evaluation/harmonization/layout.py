"""Which pianoroll slots a harmonizer copies and which it must invent (docs/math.md §6).

A harmonization target is ``[T, n * 128]``: ``n`` stacked slots of 128 MIDI pitches. Some slots
hold tracks that are also inputs (the model only has to copy them); the others are the
*accompaniment*, the part the model must invent. A table that scores all slots together mixes
the two, so every evaluator here also scores the accompaniment alone and each slot on its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackLayout:
    """Roles of the target slots of one corpus.

    names: one name per target slot (``n`` names). copied: slots equal to an input slot.
    bass_slot, chord_slot: where the rule baseline puts the chord root and the chord tones.
    voices: per slot, how many notes its part sounds at once when it is a fixed set of voices
        (a chorale's bass is one voice, its alto and tenor two), 0 for free polyphony (a piano);
        empty: every slot free. The onset decoder voices such a slot (``binarization``).
    """

    names: tuple[str, ...]
    copied: tuple[int, ...]
    bass_slot: int
    chord_slot: int
    voices: tuple[int, ...] = ()

    def __post_init__(self):
        if self.voices and (len(self.voices) != len(self.names) or min(self.voices) < 0):
            raise ValueError(f"voices: one count >= 0 per slot {self.names}, got {self.voices}")

    @property
    def n_slots(self) -> int:
        """Number of target slots ``n`` (the roll has ``n * 128`` columns)."""
        return len(self.names)

    @property
    def accompaniment(self) -> tuple[int, ...]:
        """The slots the model must invent (every slot that is not copied), in order."""
        return tuple(k for k in range(self.n_slots) if k not in self.copied)

    @property
    def free_accompaniment(self) -> tuple[int, ...]:
        """The accompaniment slots that are free polyphony (not a fixed set of voices): those
        the figure decoder (``figure``) may decode."""
        return tuple(k for k in self.accompaniment if not self.voices or not self.voices[k])


#: POP909 ([S24], [FS], [ST]): melody and bridge are inputs, the piano is invented.
POP909_LAYOUT = TrackLayout(("melody", "bridge", "piano"), copied=(0, 1), bass_slot=2,
                            chord_slot=2)
#: Bach chorales: the soprano is the input; alto+tenor (slot 1) and bass (slot 2) are invented.
CHORALE_LAYOUT = TrackLayout(("soprano", "alto_tenor", "bass"), copied=(0,), bass_slot=2,
                             chord_slot=1, voices=(1, 2, 1))
#: The layout of each known corpus, by corpus name: slot names and voices for its scores.
KNOWN_LAYOUTS = {"pop909": POP909_LAYOUT, "chorales": CHORALE_LAYOUT}


def layout_from_slots(slots: dict, names: tuple[str, ...] | None = None,
                      voices: tuple[int, ...] = ()) -> TrackLayout:
    """The layout of a corpus's ``slots`` (``Corpus.slots``: ``{"inputs": [[track, ...], ...],
    "targets": [...]}``): a target slot is copied when the input slot of the same index holds
    the same tracks. The rule baseline puts the bass in the last slot and the chord tones in the
    first invented slot; ``voices`` as :class:`TrackLayout` says."""
    inputs, targets = slots["inputs"], slots["targets"]
    copied = tuple(k for k, tracks in enumerate(targets)
                   if k < len(inputs) and tracks and sorted(inputs[k]) == sorted(tracks))
    names = names or tuple(f"slot{k}" for k in range(len(targets)))
    invented = [k for k in range(len(targets)) if k not in copied]
    if not invented:
        raise ValueError(f"every target slot is an input in {slots}: nothing to harmonize")
    return TrackLayout(tuple(names), copied, bass_slot=invented[-1], chord_slot=invented[0],
                       voices=voices)

