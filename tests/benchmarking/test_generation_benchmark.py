"""The generation benchmark on tiny sizes: every kind of method measures, fast-transformers is
skipped with a reason when absent, paired ratios come from one process, and the targets judge
hand-made points (the real run is `stripes bench generation`)."""

import pytest
import torch

from stripes.benchmarking import generation as gen


@pytest.fixture
def tiny(monkeypatch):
    for name, value in (("POSITIONS", (96, 160)), ("WINDOW", 16), ("WARMUP", 8), ("LAYERS", 1),
                        ("D_MODEL", 32), ("PAIR_BLOCK", 4), ("PAIR_ROUNDS", 3),
                        ("COMPILE", False)):  # Inductor's compile: test_compiled_method_measures
        monkeypatch.setattr(gen, name, value)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the measurements decode on one thread


@pytest.mark.parametrize("method", ["softmax:rope", gen.REFERENCE, gen.FAST_TRANSFORMERS])
def test_every_kind_of_method_measures_times_per_position(tiny, method):
    if method == gen.FAST_TRANSFORMERS and not gen.fast_transformers_installed():
        pytest.skip("fast-transformers is not installed")
    out = gen.measure_method(method, 160)
    assert set(out["ms_per_token"]) == {"96", "160"} and out["tokens_per_s"] > 0


def test_methods_list_the_softmax_cache_the_reference_and_fast_transformers():
    ms = gen.methods()
    assert {"linear:none", "linear:rope_pool", "softmax:none", gen.REFERENCE,
            gen.FAST_TRANSFORMERS, "compiled:linear:none"} <= set(ms)
    # every decodable linear PE has its compiled row
    assert {m for m in ms if m.startswith("linear:")} == {
        m.removeprefix("compiled:") for m in ms if m.startswith("compiled:")}
    assert gen.is_linear("compiled:linear:rope_pool") and not gen.is_linear("softmax:none")


@pytest.mark.inductor
@pytest.mark.parametrize("pe", ["none", "rope"])
def test_compiled_method_measures_and_decodes_what_the_eager_step_decodes(tiny, pe):
    out = gen.measure_method(f"compiled:linear:{pe}", 160)
    assert set(out["ms_per_token"]) == {"96", "160"} and out["tokens_per_s"] > 0
    eager, compiled = (gen.decoder_factory(m, 40)(1) for m in (f"linear:{pe}",
                                                               f"compiled:linear:{pe}"))
    with torch.inference_mode():
        for t in range(1, 40):
            torch.testing.assert_close(compiled(t), eager(t), rtol=1e-4, atol=1e-4)


def test_fast_transformers_is_skipped_with_a_reason_when_absent(tiny, monkeypatch):
    monkeypatch.setattr(gen, "fast_transformers_installed", lambda: False)
    out = gen.measure_method(gen.FAST_TRANSFORMERS, 160)
    assert out == {"method": gen.FAST_TRANSFORMERS, "error": "not installed"}
    pairs = gen.measure_pairs(64)
    assert "vs_ft" not in pairs["linear:none"] and pairs["linear:none"]["vs_kv"] > 0


def test_pairs_give_ratios_against_fast_transformers_and_the_kv_cache(tiny, monkeypatch):
    if not gen.fast_transformers_installed():
        pytest.skip("fast-transformers is not installed")
    monkeypatch.setattr(gen, "methods", lambda: ["linear:none", "linear:rope_pool", "softmax:none"])
    pairs = gen.measure_pairs(64)
    assert set(pairs) == {"linear:none", "linear:rope_pool"}
    for p in pairs.values():
        assert p["vs_ft"] > 0 and p["vs_kv"] > 0 and p["vs_late"] > 0
        assert p["positions"] == {"early": [5, 17], "late": [52, 64]}
    assert pairs["linear:none"]["vs_reference"] > 0
    assert "vs_reference" not in pairs["linear:rope_pool"]


def _res(method, ms256, ms8192, rate):
    return {"method": method, "ms_per_token": {"256": ms256, "8192": ms8192},
            "tokens_per_s": rate}


def test_targets_judge_rate_fast_transformers_and_kv_cache_paired_first():
    results = [_res("linear:none", 0.9, 1.0, 1100.0), _res("linear:rope_pool", 1.0, 1.1, 900.0),
               _res("linear:sine_spe", 2.0, 2.0, 480.0), _res("softmax:none", 1.0, 6.0, 300.0),
               _res(gen.FAST_TRANSFORMERS, 3.0, 3.0, 330.0),
               {"method": gen.REFERENCE, "error": "exit 1: boom"}]
    pairs = {"linear:sine_spe": {"vs_ft": 3.5, "vs_kv": 2.0, "vs_late": 1.3},
             "linear:none": {"vs_reference": 1.8}}
    by = {t["method"]: t for t in gen.check_targets(results, pairs)}
    assert set(by) == {"linear:none", "linear:rope_pool", "linear:sine_spe"}
    assert by["linear:none"]["rate"] and not by["linear:rope_pool"]["rate"]
    assert "rate" not in by["linear:sine_spe"]  # the rate target names two methods
    assert by["linear:none"]["beats_fast_transformers"]  # 1100 / 330 from separate runs
    assert not by["linear:rope_pool"]["beats_fast_transformers"]  # 900 / 330
    assert by["linear:sine_spe"]["beats_fast_transformers"] and by["linear:sine_spe"]["ft_paired"]
    assert by["linear:none"]["fast"] and not by["linear:none"]["kv_paired"]  # 6.0 / 1.0
    assert not by["linear:sine_spe"]["fast"]  # paired 2.0 beats the separate runs' 3.0
    assert by["linear:none"]["flat"] and not by["linear:sine_spe"]["flat"]  # paired 1.3
    text = gen.render_markdown({"results": results, "targets": list(by.values()), "pairs": pairs})
    assert "3.50x (p)" in text and "exit 1: boom" in text and "**no**" in text
    assert "1.30x (p)" in text and "(linear:none, paired): 1.80x" in text
