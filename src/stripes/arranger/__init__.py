"""The user-facing arranger: a trained harmonizer arranges a user's song.

``arrange.py`` (a melody MIDI and chords in, an arrangement out), ``render.py`` (MIDI, WAV and a
readable piano roll), ``pretrained.py`` (the shipped weights folders, ``stripes/weights/``: export
and load), ``demo.py`` (the main job, ``stripes demo``). Built on ``stripes.tasks.harmonization``.
"""
