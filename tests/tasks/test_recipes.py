"""Every shipped experiment recipe parses and builds each of its runs' configs (no training)."""

from dataclasses import replace
from pathlib import Path

import pytest

from stripes.experiments.harmonization import ExperimentConfig
from stripes.models import StripesTransformer

EXPERIMENTS = sorted((Path(__file__).parents[2] / "configs" / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_recipe_builds_every_run(path):
    exp = ExperimentConfig.from_yaml(path)
    assert exp.scale and exp.description
    methods = exp.method_list()
    assert len(methods) >= 2 and len(exp.seeds) >= 1
    for method in methods:
        cfg = exp.run_config(method, exp.seeds[0])
        model_cfg = cfg.model
        assert model_cfg.position_dim >= 1
        small = replace(model_cfg, d_model=16, n_heads=2, n_layers=1,
                        attention=replace(model_cfg.attention, n_features=None))
        StripesTransformer(small)  # the PE and attention build


def test_recipes_exist_for_the_three_paper_tables():
    names = {p.stem for p in EXPERIMENTS}
    for table in ("fs_table1", "st_table2", "st_table3"):
        assert table in names and f"{table}_reduced" in names
