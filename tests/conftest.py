"""Fixtures shared by every test package."""

import pytest


@pytest.fixture(scope="session")
def chorale_cache(tmp_path_factory):
    """A small real chorale cache (the first 24 music21 chorales), built by the project's code.

    Returns the cache *root*: the corpus lives in ``<root>/chorales`` (``HarmonizationConfig``'s
    ``cache_dir`` convention).
    """
    from stripes.music.datasets import prepare_chorales

    root = tmp_path_factory.mktemp("cache")
    prepare_chorales(root / "chorales", limit=24, workers=1, tokens=True)
    return root
