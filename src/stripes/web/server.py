"""Launching the page offline: no analytics, no version check, no fonts or scripts from the
network, and every file under one temporary folder of the server's, removed when it stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stripes.extras import needs
from stripes.web.inputs import Limits
from stripes.web.page import EXAMPLES, SHIPPED_MODELS, build_page, warm_up

#: Set before gradio is imported: it reads them at import or launch time.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # no telemetry, no version check against its server
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


@dataclass
class Server:
    """A running page: its ``url``, the temporary ``root`` holding every file it writes, and
    :meth:`close`, which stops it and removes that folder."""

    url: str
    root: Path
    page: Any  # gradio.Blocks (gradio is imported only when serving)

    def close(self) -> None:
        self.page.close()
        shutil.rmtree(self.root, ignore_errors=True)


def offline_theme():
    """gradio's default look with the system's fonts (its own theme fetches web fonts)."""
    with needs("web"):
        import gradio as gr

    return gr.themes.Default(font=["system-ui", "Helvetica", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"])


def serve(host: str = "127.0.0.1", port: int | None = None,
          models: dict[str, str] | None = None, limits: Limits | None = None,
          block: bool = True) -> Server:
    """Start the page at ``host:port`` (``port`` None: gradio's first free one from 7860).

    models: label -> checkpoint (default :data:`~stripes.web.page.SHIPPED_MODELS`); block: serve
    until Ctrl-C (then stop and clean up), else return the running :class:`Server`.
    """
    os.environ.update(OFFLINE_ENV)
    root = Path(tempfile.mkdtemp(prefix="stripes-serve-"))
    # gradio keeps uploads and served results in its cache folder: inside ours
    os.environ["GRADIO_TEMP_DIR"] = str(root / "cache")
    limits = limits or Limits()
    models = models or SHIPPED_MODELS
    warm_up(models)
    page = build_page(models, limits, root)
    page.queue(max_size=16)
    try:
        _, url, _ = page.launch(
            server_name=host, server_port=port, max_file_size=limits.max_upload_bytes,
            prevent_thread_lock=True, ssr_mode=False, quiet=True, footer_links=[],
            show_error=False, theme=offline_theme(), share=False, mcp_server=False,
            pwa=False, enable_monitoring=False, allowed_paths=[str(EXAMPLES)])
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    server = Server(url=url, root=root, page=page)
    if block:
        try:
            page.block_thread()
        finally:
            server.close()
    return server
