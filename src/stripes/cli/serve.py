"""``stripes serve``: the local page where a musician arranges a melody (gradio, offline)."""

from __future__ import annotations

import argparse
import signal
import sys


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="a local page to arrange a melody: upload a MIDI, type "
                       "chords, listen and download (needs the web extra)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: this computer only)")
    s.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    s.add_argument("--model", action="append", default=[], metavar="LABEL=CHECKPOINT",
                   help="offer another harmonizer (a weights or run folder) under LABEL; "
                        "repeatable (the shipped ones are always offered)")
    s.add_argument("--max-bars", type=int, default=128, help="longest song, in bars (128)")
    s.add_argument("--max-upload-mb", type=float, default=1.0,
                   help="largest uploaded file, in MB (1)")
    s.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> None:
    from stripes.extras import needs

    with needs("web"):
        import gradio  # noqa: F401  (checked before the server starts)
    from stripes.web.inputs import Limits
    from stripes.web.page import SHIPPED_MODELS
    from stripes.web.server import serve

    models = dict(SHIPPED_MODELS)
    for item in args.model:
        label, sep, checkpoint = item.partition("=")
        if not sep or not label.strip() or not checkpoint.strip():
            raise ValueError(f"--model {item!r}: write LABEL=CHECKPOINT, e.g. mine=runs/h1")
        models[label.strip()] = checkpoint.strip()
    if args.max_bars < 1 or args.max_upload_mb <= 0:
        raise ValueError("--max-bars and --max-upload-mb must be positive")
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 1e6), max_bars=args.max_bars)
    print("stripes serve: loading the models and starting the page (offline; Ctrl-C stops it)",
          flush=True)
    server = serve(args.host, args.port, models, limits, block=False)
    print(f"open {server.url} in a browser", flush=True)
    # a `kill` (SIGTERM) stops the page as Ctrl-C does: its temporary folder is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.page.block_thread()
    finally:
        server.close()
