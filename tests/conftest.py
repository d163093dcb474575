"""Shared fixtures: a tiny synthetic dataset in RecBole atomic format and tiny model settings (fast on CPU)."""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

GENRES = ["action", "comedy", "drama", "horror", "romance", "scifi"]


def write_toy_dataset(folder, name="toy", n_users=40, n_items=30, per_user=12, seed=0, with_text=True,
                      text_fn=None):
    """Users walk through items with a genre preference, so there is sequential and CF signal to learn.
    ``per_user``: interactions per user, or a function of the user's number (histories of several lengths)."""
    rng = np.random.default_rng(seed)
    path = os.path.join(folder, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, f"{name}.inter"), "w") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for u in range(1, n_users + 1):
            start = int(rng.integers(0, n_items))
            count = per_user(u) if callable(per_user) else per_user
            items = [(start + 2 * k + int(rng.integers(0, 2))) % n_items + 1 for k in range(count)]
            for t, i in enumerate(items):
                f.write(f"u{u}\ti{i}\t{t}\n")
    if with_text:
        with open(os.path.join(path, f"{name}.item"), "w") as f:
            f.write("item_id:token\ttitle:token_seq\tgenre:token_seq\n")
            for i in range(1, n_items + 1):
                text = text_fn(i) if text_fn else (f"movie number {i}", GENRES[i % len(GENRES)])
                f.write(f"i{i}\t{text[0]}\t{text[1]}\n")
    return path


def toy_config(data_path, checkpoint_dir, **overrides):
    config = {
        "data_path": data_path,
        "checkpoint_dir": checkpoint_dir,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title", "genre"]},
        "user_inter_num_interval": "[5,inf)",
        "item_inter_num_interval": "[5,inf)",
        "MAX_ITEM_LIST_LENGTH": 10,
        "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "repeatable": True,
        "metrics": ["Hit", "NDCG", "MRR"],
        "topk": [5, 10],
        "valid_metric": "NDCG@10",
        "item_text_fields": ["title", "genre"],
        "show_progress": False,
        "state": "WARNING",
        "seed": 7,
        # tiny models, one short epoch per phase
        "cf_dim": 8, "ials_iterations": 3,
        "llm_layers": 1, "llm_hidden_size": 32, "llm_heads": 2, "llm_intermediate_size": 64,
        "qformer_layers": 1, "qformer_hidden_size": 32, "qformer_heads": 2, "qformer_intermediate_size": 64,
        "itc_embed_dim": 16, "text_max_length": 16, "num_query_tokens": 2, "cf_kv_tokens": 2,
        "backbone_epochs": 1, "epochs": 1, "phase1_epochs": 1, "phase1_steps_per_epoch": 4, "phase1_batch_size": 8,
        "train_batch_size": 32, "eval_batch_size": 64, "prompt_vocab_size": 120,
    }
    config.update(overrides)
    return config


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """RecBole writes ./log and ./log_tensorboard relative to the working directory: keep them out of the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_toy_dataset(root)
    return root


@pytest.fixture(scope="session")
def wide_root(tmp_path_factory):
    """A catalogue of >= 150 items: ids of 3 digits, one token each (``id_digits_per_token: 1``), so the id trie
    has several nodes per level (as on ml-100k and Beauty) and the multi-node steps of scoring and beam search run."""
    root = str(tmp_path_factory.mktemp("wide"))
    write_toy_dataset(root, name="wide", n_users=150, n_items=160, per_user=12, seed=1)
    return root


@pytest.fixture(params=["toy", "wide"])
def catalogue(request, toy_root, wide_root, tmp_path):
    """``(make_config, dataset name)`` for the 30-item toy and the 160-item wide toy."""
    root, extra = (toy_root, {}) if request.param == "toy" else (wide_root, {"id_digits_per_token": 1})

    def make(**overrides):
        config = toy_config(root, str(tmp_path / "saved"), **extra)
        config.update(overrides)
        return config

    return make, request.param


@pytest.fixture()
def toy(toy_root, tmp_path):
    """``(make_config, tmp_path)``: ``make_config(**overrides)`` gives a config_dict for dataset 'toy'."""

    def make(**overrides):
        config = toy_config(toy_root, str(tmp_path / "saved"))
        config.update(overrides)
        return config

    return make
