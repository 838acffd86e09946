"""``stripes serve``: a local page where a musician arranges a melody with the shipped harmonizers.

``adapter.py`` (the one call into :mod:`stripes.arranger`), ``inputs.py`` (what the form sends:
limits, typed chords, phrase labels), ``messages.py`` (errors and warnings in a musician's
words), ``page.py`` (the gradio page and its request handler, one temporary folder per request)
and ``server.py`` (launching it offline: no analytics, no assets from the network). The top of the
import order: it imports the arranger, nothing but ``stripes.cli.serve`` imports it. gradio is
the ``web`` extra (``pip install -e '.[web]'``).
"""
