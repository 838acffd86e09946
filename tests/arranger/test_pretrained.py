"""The shipped weights load in one call, reproduce their committed test scores on real POP909
windows, and arrange the example lead sheet into MIDI, a non-silent WAV of its length and a PNG."""

import json
from pathlib import Path

import numpy as np
import pytest

from stripes.arranger.notices import no_bridge_notice
from stripes.arranger.pretrained import PRETRAINED, load_any_harmonizer, load_pretrained
from stripes.evaluation.harmonization.binarization import decode_window
from stripes.evaluation.harmonization.layout import POP909_LAYOUT
from stripes.evaluation.harmonization.scoring import evaluate_window
from stripes.music.audio import wav_stats
from stripes.music.datasets import POP909_SLOTS, corpus_from_songs
from stripes.music.midi_io import read_midi
from stripes.music.windows import WindowDataset, collate_windows
from stripes.tasks.harmonization.data import model_inputs
from stripes.tasks.harmonization.predict import predict_probabilities, split_outputs

EXAMPLE = Path(__file__).parents[2] / "examples" / "ode_to_joy"


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_shipped_weights_load_with_their_config_split_and_scores(name):
    model, config, meta = load_pretrained(name)
    assert config.data == name and model.num_parameters() == meta["parameters"]
    assert model.config.input_dim == 256 + 32  # chroma, root and meter features
    assert {"train", "val", "test"} <= set(meta["split"]) and meta["split"]["test"]
    assert not set(meta["split"]["test"]) & set(meta["split"]["train"])
    assert 0 < meta["binarization"]["threshold"] < 1 and meta["steps"] > 0
    acc = next(iter(meta["scores"].values()))["reference"]
    assert acc["model"]["accompaniment"]["CS"] > acc["empty"]["accompaniment"]["CS"]
    same = load_any_harmonizer(name)
    assert same[2] == meta["binarization"]


def test_pop909_weights_reproduce_their_committed_scores_on_real_windows(data_root, vocab,
                                                                         startpos):
    from stripes.music.pop909 import TRACKS, load_song

    model, config, meta = load_pretrained("pop909")
    checks = meta["check"]
    songs = [load_song(data_root, int(c["song"]), vocab, startpos) for c in checks]
    corpus = corpus_from_songs("pop909", songs, vocab, TRACKS, POP909_SLOTS,
                               np.full(len(songs), 2, np.int8), {})
    ds = WindowDataset(corpus, "test", bars=16, context=config.context,
                       features=tuple(config.input_features))
    b = meta["binarization"]
    for i, check in enumerate(checks):
        batch = collate_windows([ds.item(i, check["start"], check["length"])])
        probs = predict_probabilities(model, model_inputs(batch), batch["positions"])[0].numpy()
        pred = decode_window(split_outputs(probs), b).frames
        score = evaluate_window(pred, batch["targets"][0].numpy(), layout=POP909_LAYOUT,
                                per_track=False)
        for group in ("all", "accompaniment"):
            for metric, value in check[group].items():
                assert score[group][metric] == pytest.approx(value, abs=1e-6), (i, group, metric)


def test_chorale_weights_reproduce_their_committed_scores_on_held_out_chorales():
    """The chorale weights' config.json rebuilds the model that scored the committed check
    windows: the same scores, to 1e-6, on the same chorales parsed afresh from music21's corpus
    (functional chord labels)."""
    from stripes.evaluation.harmonization.layout import CHORALE_LAYOUT
    from stripes.music.chorales import VOICES, chorale_files, read_chorale
    from stripes.music.datasets import CHORALE_SLOTS

    model, config, meta = load_pretrained("chorales")
    vocab, checks, b = meta["vocab"], meta["check"], meta["binarization"]
    files = {f.rsplit("/", 1)[-1]: f for f in chorale_files()}
    songs = [read_chorale(files[c["song"]]) for c in checks]
    for song in songs:
        song.labels["chord"] = vocab.ids_of_keys(song.labels["chord"])
    corpus = corpus_from_songs("chorales", songs, vocab, list(VOICES), CHORALE_SLOTS,
                               np.full(len(songs), 2, np.int8), {})
    ds = WindowDataset(corpus, "test", bars=None, context=config.context,
                       features=tuple(config.input_features))
    for i, check in enumerate(checks):
        batch = collate_windows([ds.item(i, check["start"], check["length"])])
        probs = predict_probabilities(model, model_inputs(batch), batch["positions"])[0].numpy()
        pred = decode_window(split_outputs(probs), b).frames
        score = evaluate_window(pred, batch["targets"][0].numpy(), layout=CHORALE_LAYOUT,
                                per_track=False)
        for group in ("all", "accompaniment"):
            for metric, value in check[group].items():
                assert score[group][metric] == pytest.approx(value, abs=1e-6), (i, group, metric)


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_shipped_weights_rebuild_the_model_config_they_record(name):
    from dataclasses import replace

    from stripes.models import ModelConfig

    model, config, meta = load_pretrained(name)
    recorded = ModelConfig.from_dict(meta["model"])  # written out in full

    def seedless(c: ModelConfig) -> ModelConfig:  # elu+1 features draw nothing: any seed
        return replace(c, attention=replace(c.attention, feature_seed=None))

    assert model.config == config.model
    assert seedless(config.model) == seedless(recorded)
    assert config.run.data_root is None  # the folder's own data_root is never used


def test_the_lead_sheet_becomes_midi_a_wav_of_its_length_and_a_png(tmp_path):
    from stripes.arranger.arrange import harmonize_song

    res = harmonize_song("pop909", EXAMPLE / "melody.mid", tmp_path / "ode.mid",
                         chords=EXAMPLE / "chords.txt", renderer="builtin")
    # a melody-only lead sheet: the one thing said is what the model hears instead of a bridge
    assert res["warnings"] == [no_bridge_notice("pop909")]
    assert res["tracks"] == ["Melody", "Piano"] and res["sanity"]["pass"]
    score = read_midi(res["midi"])
    piano = [t for t in score.tracks if t.name == "Piano"]
    assert piano and len(piano[0].notes) > 16  # an accompaniment, not silence
    assert score.tempos[0].qpm == pytest.approx(res["qpm"]) and res["qpm"] != 120
    seconds = score.end() / score.tpq * 60 / res["qpm"]
    stats = wav_stats(res["wav"])
    assert stats["seconds"] == pytest.approx(seconds + 1.0, abs=0.1)  # + the release tail
    assert stats["rms_dbfs"] > -40 and stats["silent_share"] < 0.2
    assert Path(res["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_committed_weights_config_is_plain_json():
    for folder in PRETRAINED.values():
        meta = json.loads((folder / "config.json").read_text())
        assert meta["task"]["input_features"] == ["chroma", "root", "meter"]
        assert (folder / "log.csv").read_text().startswith("step,epoch,split,loss,lr")
