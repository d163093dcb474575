"""Issue 6: resume after a kill, determinism, safe checkpoint loading, hostile inputs."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, toy_config, write_toy_dataset
from recbole_ilm.errors import ILMConfigError

HERE = os.path.dirname(os.path.abspath(__file__))


def _spec(root, saved, **extra):
    cfg = toy_config(root, saved, epochs=5, stopping_step=10, train_batch_size=16, phase1_epochs=2,
                     phase1_steps_per_epoch=3, **extra)
    return {"model": "ILM", "dataset": "big", **cfg}


def _start(spec, out):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, os.path.join(HERE, "run_toy.py"), json.dumps({**spec, "out": out})],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def big_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("big"))
    write_toy_dataset(root, name="big", n_users=100, n_items=40, per_user=14)
    return root


def test_kill_mid_phase_then_resume_gives_the_uninterrupted_metrics(big_root, tmp_path):
    whole = _start(_spec(big_root, str(tmp_path / "a")), str(tmp_path / "a.json"))
    assert whole.wait(timeout=900) == 0, whole.stderr.read()[-2000:]
    expected = json.load(open(tmp_path / "a.json"))

    killed = _start(_spec(big_root, str(tmp_path / "b")), str(tmp_path / "b.json"))
    seen = None
    deadline = time.time() + 900
    while time.time() < deadline and killed.poll() is None:
        marks = glob.glob(str(tmp_path / "b" / "*.resume.pth.json"))
        if marks:
            try:
                seen = json.load(open(marks[0]))
            except (json.JSONDecodeError, OSError):
                seen = None
            if seen and seen["phase"] == 2 and seen["epoch"] >= 1:
                killed.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    assert killed.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert not os.path.exists(tmp_path / "b.json")
    resume_file = glob.glob(str(tmp_path / "b" / "*.resume.pth"))[0]
    state = json.load(open(resume_file + ".json"))
    assert state["phase"] == 2 and state["epoch"] < 4  # killed mid phase 2

    resumed = _start(_spec(big_root, str(tmp_path / "b"), resume=resume_file), str(tmp_path / "b.json"))
    assert resumed.wait(timeout=900) == 0, resumed.stderr.read()[-2000:]
    assert json.load(open(tmp_path / "b.json")) == expected


def test_same_seed_same_metrics(toy):
    from recbole_ilm.quick_start import run_recbole_ilm

    first = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())["test_result"]
    second = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())["test_result"]  # backbone from cache
    assert first == second


def test_checkpoints_load_with_weights_only_and_bad_files_are_clear_errors(toy, tmp_path):
    from recbole_ilm.quick_start import load_data_and_model, run_recbole_ilm

    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())
    checkpoint = torch.load(result["saved_model_file"], weights_only=True)  # only tensors and plain data
    assert checkpoint["format"] == "recbole-ilm/1" and checkpoint["model"] == "ILM"
    broken = tmp_path / "broken.pth"
    broken.write_bytes(open(result["saved_model_file"], "rb").read()[:5000])
    with pytest.raises(ILMConfigError, match="is corrupted or not a PyTorch checkpoint"):
        load_data_and_model(str(broken))
    foreign = tmp_path / "foreign.pth"
    torch.save({"weights": torch.ones(2)}, foreign)
    with pytest.raises(ILMConfigError, match="not a RecBole / recbole-ilm model checkpoint"):
        load_data_and_model(str(foreign))
    with pytest.raises(ILMConfigError, match="does not exist"):
        load_data_and_model(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("key,value,message", [
    ("num_query_tokens", 0, "must be a positive int"),
    ("llm_hidden_size", "wide", "must be a positive int"),
    ("phase1_eval_ratio", 1.5, r"must be a number in \[0, 1\)"),
    ("eval_mode", "greedy", "must be one of"),
    ("phase1_losses", "itc", "must be a list of strings"),
    ("train_tasks", {"sequential": -1}, "must be a dict of non-negative numbers"),
])
def test_malformed_option_values_are_rejected_before_training(toy, key, value, message):
    from recbole_ilm.config import Config

    with pytest.raises(ILMConfigError, match=f"option '{key}' {message}"):
        Config(model="ILM", dataset="toy", config_dict=toy(**{key: value}))


def _write(path, header, rows):
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(header + "\n" + "\n".join(rows) + "\n")


def test_hostile_dataset_duplicates_odd_text_and_one_interaction_users(tmp_path, toy, caplog):
    from recbole_ilm.quick_start import run_recbole_ilm

    root = str(tmp_path / "data")
    path = write_toy_dataset(root, name="hostile")
    with open(os.path.join(path, "hostile.inter"), "a") as f:
        f.write("u1\ti1\t0\n" * 3)  # duplicate interactions
        f.write("lonely\ti2\t5\n")  # a user with one interaction
    with open(os.path.join(path, "hostile.item")) as f:
        lines = f.read().splitlines()
    lines[1] = "i1\t   \t  "  # whitespace-only text
    lines[2] = "i2\t" + " ".join(["very long title"] * 400) + "\tdrama"
    lines[3] = "i3\t\t"  # empty text
    with open(os.path.join(path, "hostile.item"), "wb") as f:
        data = "\n".join(lines).encode("utf-8") + b"\ni99\tcaf\xe9 \xff broken bytes\tdrama\n"  # not UTF-8
        f.write(data)
    caplog.set_level("WARNING")
    cfg = toy(data_path=root, user_inter_num_interval="[0,inf)", item_inter_num_interval="[0,inf)")
    with pytest.raises(ILMConfigError, match="is not valid utf-8 .* set encoding: latin-1"):
        run_recbole_ilm(model="ILM", dataset="hostile", config_dict=cfg)
    result = run_recbole_ilm(model="ILM", dataset="hostile", config_dict={**cfg, "encoding": "latin-1"})
    assert "duplicate" in caplog.text and "rm_dup_inter" in caplog.text
    assert np.isfinite(result["test_result"]["ndcg@10"])


def test_nan_in_a_supplied_embedding_file(toy, tmp_path):
    from recbole_ilm.quick_start import run_recbole_ilm

    emb = np.random.default_rng(0).normal(size=(31, 8)).astype(np.float32)
    emb[5, 2] = np.nan
    np.save(tmp_path / "emb.npy", emb)
    with pytest.raises(ILMConfigError, match="NaN/inf in 1 rows"):
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(cf_source="file",
                                                                     cf_embedding_file=str(tmp_path / "emb.npy")))


def test_history_longer_than_the_maximum_is_truncated(toy):
    from helpers import build

    config, ds, (train, valid, test), _ = build("ILM", toy(MAX_ITEM_LIST_LENGTH=4), with_model=False)
    batch = next(iter(test))[0]
    assert int(batch["item_length"].max()) <= 4  # users have 12 interactions; RecBole keeps the last 4
    slots = (batch["prompt_slot_item"] > 0).sum(dim=1)
    assert int(slots.max()) <= 4 * config["num_query_tokens"]


def test_prompt_longer_than_the_llm_context(toy):
    from helpers import build

    with pytest.raises(ILMConfigError, match=r"prompts reach \d+ tokens .* LLM's context is 64"):
        build("ILM", toy(llm_max_positions=64))
