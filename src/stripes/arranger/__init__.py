"""The user-facing arranger: a trained harmonizer arranges a user's song.

``arrange.py`` (a melody MIDI and chords in, an ``Arrangement`` and its warnings out),
``melody.py`` (which tracks are the melody and the bridge), ``song_chords.py`` (the user's
chords, their roots and span), ``notices.py`` (what the user is told, in plain words),
``render.py`` (MIDI, WAV and a readable piano roll), ``pretrained.py`` (the shipped weights
folders, ``stripes/weights/``: export and load), ``demo.py`` (the main job, ``stripes demo``).
Built on ``stripes.tasks.harmonization``.
"""
