"""The package as a user installs it: the sdist and the wheel built from this checkout, the wheel
installed into a fresh virtual environment with the core only, then with the ``music`` extra.

The core environment gets torch from the machine's pin (``STRIPES_TORCH_PIN``, default
``torch==2.13.0``, a local CPU wheel here: never a bare ``torch``, which would pull a CUDA build),
then the wheel; it must hold no package of the ``music`` or ``web`` extras (the installed list is
printed), run every PE family forward and one decoding step, and name the extra to install when
a music part is imported. The same environment with ``[music]`` then loads the shipped weights
from the installed package and arranges the example lead sheet.

Marked ``wheel``: out of the default suite, run by ``make test-wheel`` (CI runs it after
``make test``). It needs the package index for the core's and the extra's dependencies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = re.search(r'__version__ = "(.+)"', (ROOT / "src/stripes/__init__.py").read_text())[1]
TORCH_PIN = os.environ.get("STRIPES_TORCH_PIN", "torch==2.13.0")
STEP_TIMEOUT = 1200  # seconds for one install or script (a busy 2-core machine)
# pip install --no-compile: byte-compiling every file of torch and of the music packages is work
# the test does not need; the modules its scripts import compile when they are imported.


def requirement_name(requirement: str) -> str:
    """``"music21>=9.1"`` -> ``"music21"`` (normalized as pip lists it)."""
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


#: What the core install must not hold: every package the music and web extras name.
OPTIONAL = {requirement_name(r) for extra in ("music", "web")
            for r in PYPROJECT["project"]["optional-dependencies"][extra]}


def run(args: list, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``args`` outside this checkout's import path (no PYTHONPATH: the installed copy is
    tested)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=STEP_TIMEOUT)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel (built from the sdist, so the sdist is shown to be complete)."""
    out = tmp_path_factory.mktemp("dist")
    # no isolation: the dev extra holds the backend (setuptools) and build, so no download
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], ROOT)
    return out


def wheel_of(dist: Path) -> Path:
    return dist / f"stripes-{VERSION}-py3-none-any.whl"


@pytest.fixture(scope="module")
def core(dist, tmp_path_factory) -> dict:
    """A fresh environment with the core install, and what it showed (recorded before the
    ``music`` fixture adds the extra to the same environment)."""
    work = tmp_path_factory.mktemp("core")
    run([sys.executable, "-m", "venv", work / "env"], work)
    python = work / "env" / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--no-compile", TORCH_PIN], work)
    run([python, "-m", "pip", "install", "-q", "--no-compile", wheel_of(dist)], work)
    listed = json.loads(run([python, "-m", "pip", "list", "--format=json"], work).stdout)
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in listed}
    print("core install:", ", ".join(f"{n}=={v}" for n, v in sorted(installed.items())))
    return {
        "python": python, "work": work, "installed": installed,
        "smoke": run([python, HERE / "core_smoke.py"], work).stdout,
        "import_music": run([python, "-c", "import stripes.arranger.arrange"], work, check=False),
        "cli_music": run([work / "env" / "bin" / "stripes", "harmonize",
                          ROOT / "examples/ode_to_joy/melody.mid", "--chords",
                          ROOT / "examples/ode_to_joy/chords.txt", "--out", work / "x.mid"],
                         work, check=False),
    }


@pytest.fixture(scope="module")
def music(core, dist) -> str:
    """The core environment with the ``music`` extra: the music script's output."""
    python, work = core["python"], core["work"]
    run([python, "-m", "pip", "install", "-q", "--no-compile", f"{wheel_of(dist)}[music]"], work)
    return run([python, HERE / "music_smoke.py", ROOT / "examples/ode_to_joy", work], work).stdout


def test_the_wheel_holds_the_weights_the_license_and_the_metadata(dist):
    names = set(zipfile.ZipFile(wheel_of(dist)).namelist())
    shipped = {p.relative_to(ROOT / "src").as_posix()
               for p in (ROOT / "src/stripes/weights").rglob("*") if p.is_file()}
    assert shipped and shipped <= names, sorted(shipped - names)
    info = f"stripes-{VERSION}.dist-info"
    assert {f"{info}/licenses/LICENSE", "stripes/py.typed"} <= names
    meta = zipfile.ZipFile(wheel_of(dist)).read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in meta and "Classifier: " in meta
    assert "Project-URL: Changelog" in meta and f"Version: {VERSION}" in meta
    core_requires = [line for line in meta.splitlines()
                     if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [r for r in core_requires if requirement_name(r.split(":", 1)[1].strip())
                in OPTIONAL], core_requires


def test_the_sdist_holds_the_changelog_the_license_and_the_weights(dist):
    with tarfile.open(dist / f"stripes-{VERSION}.tar.gz") as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"CHANGELOG.md", "LICENSE", "README.md", "pyproject.toml",
            "src/stripes/weights/pop909/model.safetensors"} <= names


def test_the_core_install_holds_no_music_or_web_package(core):
    assert "torch" in core["installed"] and "stripes" in core["installed"]
    found = sorted(OPTIONAL & set(core["installed"]))
    assert not found, f"the core install pulled {found}; it holds {sorted(core['installed'])}"


def test_the_core_install_runs_every_pe_forward_and_one_decoding_step(core):
    assert core["smoke"].startswith("core ok:"), core["smoke"]


def test_the_core_install_names_the_music_extra_on_import_and_in_the_cli(core):
    imported, cli = core["import_music"], core["cli_music"]
    assert imported.returncode == 1
    assert imported.stderr.strip().splitlines()[-1].endswith('pip install "stripes[music]"')
    assert "MissingExtra" in imported.stderr and "ModuleNotFoundError" not in imported.stderr
    assert cli.returncode == 1 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr
    assert cli.stderr.startswith("stripes: error: ")
    assert 'pip install "stripes[music]"' in cli.stderr


def test_the_music_extra_loads_the_shipped_weights_and_arranges_the_lead_sheet(music, core):
    env = str(core["work"] / "env")
    loaded = [line for line in music.splitlines() if line.startswith("weights ok:")]
    assert len(loaded) == 2 and all(env in line for line in loaded), music
    assert "arranged ode_to_joy:" in music, music
