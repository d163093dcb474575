"""cf_checkpoint / distill_checkpoint may name a RecBole model: it is trained on the run's data and seed once, cached,
and the run's numbers do not depend on whether it was trained now or found (recbole_ilm/trained_baselines.py)."""

import glob
import json
import os

import pytest

from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import load_data_and_model, run_recbole_ilm

SMALL = {"epochs": 1, "stopping_step": 10, "hidden_size": 8, "inner_size": 16, "embedding_size": 8}


def cached(tmp_path, name):
    return sorted(glob.glob(str(tmp_path / "saved" / "ilm_cache" / "toy" / f"recbole-{name}-*" / "model.pth")))


def test_a_named_cf_model_is_trained_once_per_seed_and_leaves_the_run_unchanged(toy, tmp_path):
    config = toy(cf_source="checkpoint", cf_checkpoint="SASRec", recbole_model_config=SMALL)
    first = run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=config)
    [path] = cached(tmp_path, "SASRec")
    meta = json.load(open(os.path.join(os.path.dirname(path), "meta.json")))
    assert meta["model"] == "SASRec" and meta["seed"] == 7 and "ndcg@10" in meta["test"]
    saved = read_checkpoint(path)["config"]
    assert saved["hidden_size"] == 8 and saved["seed"] == 7 and saved["MAX_ITEM_LIST_LENGTH"] == 10
    # the run's checkpoint names the file it used, and reloads from it
    assert read_checkpoint(first["saved_model_file"])["config"]["cf_checkpoint"] == path
    assert load_data_and_model(first["saved_model_file"])[0]["cf_checkpoint"] == path

    stamp = os.path.getmtime(path)
    second = run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=config)
    assert os.path.getmtime(path) == stamp and cached(tmp_path, "SASRec") == [path]  # found, not retrained
    assert second["test_result"] == first["test_result"]  # training SASRec first left the run's random state alone
    assert second["best_valid_result"] == first["best_valid_result"]

    run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict={**config, "seed": 8})
    assert len(cached(tmp_path, "SASRec")) == 2  # another seed, another model


def test_a_named_teacher_is_trained_and_distilled(toy, tmp_path):
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(
        retrieval_head="item_tokens", distill_checkpoint="GRU4Rec", distill_weight=1.0, recbole_model_config=SMALL))
    [path] = cached(tmp_path, "GRU4Rec")
    assert read_checkpoint(result["saved_model_file"])["config"]["distill_checkpoint"] == path
    assert cached(tmp_path, "SASRec") == []  # cf_checkpoint unused (cf_source: ials): nothing else trained


@pytest.mark.parametrize("overrides, words", [
    ({"distill_checkpoint": "BPR", "distill_weight": 1.0, "retrieval_head": "item_tokens"},
     ["distill_checkpoint: BPR is not a RecBole sequential model"]),
    ({"cf_source": "checkpoint", "cf_checkpoint": "BPR"}, ["cf_checkpoint: BPR trains on negative samples",
                                                           "recbole_model_config", "train_neg_sample_args"]),
    ({"cf_source": "checkpoint", "cf_checkpoint": "ILM"}, ["cf_checkpoint", "'ILM' does not exist",
                                                           "RecBole model's name such as SASRec"]),
])
def test_a_name_that_cannot_serve_stops_the_run_with_a_clear_error(toy, tmp_path, overrides, words):
    with pytest.raises(ILMConfigError) as e:
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(recbole_model_config=SMALL, **overrides))
    assert all(w in str(e.value) for w in words), str(e.value)
    assert not glob.glob(str(tmp_path / "saved" / "ilm_cache" / "toy" / "recbole-*"))  # nothing trained


def test_training_a_named_model_leaves_the_random_state_alone(toy):
    """The run seeds itself before loading data; a model trained in between must not shift what it draws next."""
    import random

    import numpy as np
    import torch

    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset
    from recbole_ilm.trained_baselines import resolve_named_checkpoints

    config = Config(model="ILM", dataset="toy", config_dict=toy(
        retrieval_head="item_tokens", distill_checkpoint="GRU4Rec", distill_weight=1.0, recbole_model_config=SMALL))
    dataset = create_dataset(config)

    def draws():
        return torch.rand(3).tolist(), random.random(), np.random.rand()

    def seeded():
        torch.manual_seed(3), random.seed(3), np.random.seed(3)

    seeded()
    expected = draws()
    seeded()
    resolve_named_checkpoints(config, dataset)
    assert config["distill_checkpoint"].endswith("model.pth")
    assert draws() == expected


def test_a_baseline_run_serves_a_later_run_that_names_the_same_recipe(toy, tmp_path):
    """The benchmark stores its SASRec cell's checkpoint (store_trained); an ILM cell naming SASRec with the same
    options, data and seed then uses that file instead of training SASRec a second time."""
    from recbole_ilm.trained_baselines import store_trained

    data = {k: v for k, v in toy().items() if k in (
        "data_path", "checkpoint_dir", "USER_ID_FIELD", "ITEM_ID_FIELD", "TIME_FIELD", "load_col",
        "user_inter_num_interval", "item_inter_num_interval", "MAX_ITEM_LIST_LENGTH", "train_neg_sample_args",
        "eval_args", "repeatable", "metrics", "topk", "valid_metric", "show_progress", "state", "seed")}
    baseline = run_recbole_ilm(model="SASRec", dataset="toy", config_dict={**data, **SMALL})
    folder = store_trained(baseline["saved_model_file"], {"test": {"ndcg@10": 0.5}})
    assert json.load(open(os.path.join(folder, "meta.json")))["source"] == baseline["saved_model_file"]
    stamp = os.path.getmtime(os.path.join(folder, "model.pth"))
    run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(
        cf_source="checkpoint", cf_checkpoint="SASRec", recbole_model_config=SMALL))
    assert cached(tmp_path, "SASRec") == [os.path.join(folder, "model.pth")]
    assert os.path.getmtime(os.path.join(folder, "model.pth")) == stamp


def test_the_cache_key_does_not_depend_on_what_ran_before(toy):
    """RecBole grows its Dataset-argument list whenever a Config reads a dataset YAML (ml-100k's here): the key must
    not follow it, or a model stored by one process is not found by the next."""
    from recbole_ilm.config import Config
    from recbole_ilm.trained_baselines import model_options

    sasrec = Config(model="SASRec", dataset="toy", config_dict=toy(**SMALL))
    before = model_options(sasrec)
    Config(model="ILM", dataset="ml-100k")
    assert model_options(sasrec) == before


def test_the_shipped_variant_names_both_models_and_runs(toy, tmp_path):
    from recbole_ilm.variants import resolve_variant

    model, options = resolve_variant("ILM-rand-sasrec-cf")
    result = run_recbole_ilm(model=model, dataset="toy", config_dict={**toy(recbole_model_config=SMALL), **options})
    assert len(cached(tmp_path, "SASRec")) == 1 and len(cached(tmp_path, "GRU4Rec")) == 1
    assert "ndcg@10" in result["test_result"]
