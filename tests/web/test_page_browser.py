"""End to end in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which ``.ci/run`` installs) drives ``stripes serve``'s page with selenium.

The shipped example is uploaded, chords typed, and the result checked as a musician meets it: a
piano-roll image, an audio player whose audio has a duration, a MIDI download that parses and
holds the melody. "Try again" asks the shipped POP909 harmonizer for a variation (another
rhythmic figure of its onset output). A bad upload shows its error in the page, and the page asks
nothing of the network.

Set ``STRIPES_SCREENSHOT=results/web/page.png`` to rewrite the README's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
import symusic

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ode_to_joy" / "melody.mid"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARRANGE_TIMEOUT = 300  # seconds: a loaded 2-core machine


@pytest.fixture(scope="module")
def driver():
    pytest.importorskip("gradio", reason="the web extra is not installed (pip install '.[web]')")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (web extra) missing")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no headless Chromium: apt-get install -y chromium chromium-driver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1300,1500"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request it made
    browser = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def page(driver):
    from stripes.web.page import SHIPPED_MODELS
    from stripes.web.server import serve

    server = serve(port=None, models=SHIPPED_MODELS, block=False)
    driver.get(server.url)
    _wait(driver, "return document.readyState === 'complete' && !!document.querySelector("
                  "'#arrange') && !!document.querySelector('#midi input[type=file]')", 180)
    time.sleep(3)  # gradio attaches its handlers after the elements appear
    yield server
    server.close()
    assert not server.root.exists()


def _wait(driver, script: str, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for: {script}")


def _css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _submit(driver, button: str, before: str) -> str:
    """Click ``button`` and wait for an answer (a result or an error) other than ``before``."""
    _css(driver, button).click()
    script = f"""const s = {STATUS_JS};
        return (s && s !== {json.dumps(before)}) ? s : null"""
    return _wait(driver, script, ARRANGE_TIMEOUT)


#: The status box's answer, without gradio's progress timer that shares the box while it runs.
STATUS_JS = """document.querySelector('#status').innerText.split('\\n')
    .filter(l => l.startsWith('Arranged') || l.startsWith('Could not')).join(' ')"""


def _upload(driver, path: Path) -> None:
    _css(driver, "#midi input[type=file]").send_keys(str(path))
    name = json.dumps(path.name)
    # gradio shows the name's stem and suffix on two lines: compare without whitespace
    _wait(driver, "return document.querySelector('#midi').innerText.replace(/\\s/g, '')"
                  f".includes({name})", 180)


def _clear_upload(driver) -> None:
    driver.execute_script("const b = document.querySelector('#midi button[aria-label=Clear]');"
                          "if (b) b.click();")
    time.sleep(1)


def _download_midi(driver) -> symusic.Score:
    links = _wait(driver, "return [...document.querySelectorAll('#downloads a')]"
                  ".map(a => a.href).filter(h => h.includes('.mid'))", 60)
    data = urllib.request.urlopen(links[0], timeout=30).read()  # the page's own server
    return symusic.Score.from_midi(data)


def _status(driver) -> str:
    return driver.execute_script(f"return {STATUS_JS}")


def test_the_example_with_typed_chords_gives_a_roll_audio_and_a_midi_with_the_melody(
        driver, page, tmp_path):
    _clear_upload(driver)
    _upload(driver, EXAMPLE)
    box = _css(driver, "#chords textarea")
    box.clear()
    box.send_keys("C G Am F")
    status = _submit(driver, "#arrange", _status(driver))
    assert status.startswith("Arranged 16 bars"), status
    assert _wait(driver, "const i = document.querySelector('#pianoroll img');"
                 "return i && i.complete && i.naturalWidth > 500", 60)
    # gradio's player keeps its <audio> in a shadow root (the waveform's)
    seconds = _wait(driver, """
        for (const e of document.querySelectorAll('#audio *')) {
          const a = e.shadowRoot && e.shadowRoot.querySelector('audio');
          if (a && a.duration > 0) return a.duration;
        }
        return null;""", 60)
    assert 30 < seconds < 50  # 16 bars of 4/4 at 100 quarter notes per minute: 38.4 s
    arranged = _download_midi(driver)
    melody = symusic.Score(str(EXAMPLE)).tracks[0]
    assert len(arranged.tracks) >= 2
    assert [(n.time, n.pitch) for n in arranged.tracks[0].notes] == [
        (n.time, n.pitch) for n in melody.notes]
    if os.environ.get("STRIPES_SCREENSHOT"):
        driver.save_screenshot(os.environ["STRIPES_SCREENSHOT"])


def test_try_again_gives_a_different_arrangement(driver, page, tmp_path):
    from selenium.webdriver.common.by import By

    short = tmp_path / "four_bars.mid"  # a short song: a quick answer
    score = symusic.Score(str(EXAMPLE))
    score.tracks[0].notes = score.tracks[0].notes.filter(
        lambda n: n.end <= 16 * score.ticks_per_quarter)
    score.dump_midi(str(short))
    _clear_upload(driver)
    _upload(driver, short)
    box = _css(driver, "#chords textarea")
    box.clear()
    box.send_keys("C G Am F")
    [label] = [e for e in driver.find_elements(By.CSS_SELECTOR, "#model label")
               if e.text.strip() == "POP909 pop piano"]
    label.click()
    first = _submit(driver, "#arrange", _status(driver))
    assert first.startswith("Arranged"), first
    before = _download_midi(driver)
    second = _submit(driver, "#again", first)
    assert "variation 1" in second and "variation 0" in first
    after = _download_midi(driver)
    accompaniment = [sorted((n.time, n.duration, n.pitch) for t in s.tracks[1:] for n in t.notes)
                     for s in (before, after)]
    assert accompaniment[0] and accompaniment[0] != accompaniment[1]


def test_a_file_that_is_not_midi_is_answered_in_the_page(driver, page, tmp_path):
    bad = tmp_path / "notes.mid"
    bad.write_text("these are my notes, not a MIDI file")
    _clear_upload(driver)
    _upload(driver, bad)
    status = _submit(driver, "#arrange", _status(driver))
    assert "not a MIDI file" in status and "Traceback" not in status
    assert not driver.execute_script("const i = document.querySelector('#pianoroll img');"
                                     "return i && i.naturalWidth > 0")


def test_the_page_loaded_nothing_from_the_network(driver, page):
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    host = page.url.rstrip("/")
    outside = sorted(u for u in urls if not u.startswith((host, "data:", "blob:")))
    assert urls and not outside, outside
