"""Issue 6: resume after a kill, determinism, safe checkpoint loading, hostile inputs."""

import glob
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, toy_config, write_toy_dataset
from recbole_ilm.errors import ILMConfigError

HERE = os.path.dirname(os.path.abspath(__file__))


def _spec(root, saved, **extra):
    cfg = toy_config(root, saved, epochs=2, backbone_epochs=2, stopping_step=10, train_batch_size=16,
                     phase1_epochs=2, phase1_steps_per_epoch=3, **extra)
    return {"model": "ILM", "dataset": "big", **cfg}


def _run(spec, out, kill_after=None):
    """Run one toy training in a child process; ``kill_after='<phase>:<epoch>'`` SIGKILLs it right after that
    epoch's resume point is written. Returns the exit code."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("RECBOLE_ILM_KILL_AFTER", None)
    if kill_after:
        env["RECBOLE_ILM_KILL_AFTER"] = kill_after
    proc = subprocess.run([sys.executable, os.path.join(HERE, "run_toy.py"), json.dumps({**spec, "out": out})],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=900)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-2000:]
    return proc.returncode


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def big_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("big"))
    write_toy_dataset(root, name="big", n_users=100, n_items=40, per_user=14)
    return root


def test_kill_in_every_phase_then_resume_gives_the_uninterrupted_weights_bit_for_bit(big_root, tmp_path):
    assert _run(_spec(big_root, str(tmp_path / "a")), str(tmp_path / "a.json")) == 0
    expected = json.load(open(tmp_path / "a.json"))

    spec, out = _spec(big_root, str(tmp_path / "b")), str(tmp_path / "b.json")
    assert _run(spec, out, kill_after="0:0") == -signal.SIGKILL  # mid phase 0 (backbone)
    resume_file = glob.glob(str(tmp_path / "b" / "*.resume.pth"))[0]
    for phase in (1, 2):  # resume, then get killed again mid phase 1 (alignment), then mid phase 2 (retrieval)
        assert json.load(open(resume_file + ".json"))["phase"] == phase - 1
        assert _run({**spec, "resume": resume_file}, out, kill_after=f"{phase}:0") == -signal.SIGKILL
        assert json.load(open(resume_file + ".json")) == {"phase": phase, "epoch": 0}
        assert not os.path.exists(out)
    assert _run({**spec, "resume": resume_file}, out) == 0
    got = json.load(open(out))
    a, b = _weights(expected.pop("saved_model_file")), _weights(got.pop("saved_model_file"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert got == expected


def test_same_config_same_weights_whether_the_backbone_is_trained_or_loaded_from_the_cache(toy):
    """Phase 2 must not depend on whether phase 0 ran in this process (drawing from the loader's shuffle generator
    and the template sampler) or was loaded from the cache: every phase reseeds from (seed, phase)."""
    from recbole_ilm.quick_start import run_recbole_ilm

    config = toy(backbone_epochs=2, epochs=2, train_batch_size=16)
    first = run_recbole_ilm(model="ILM", dataset="toy", config_dict=config)
    second = run_recbole_ilm(model="ILM", dataset="toy", config_dict=config)  # backbone from the cache
    a, b = _weights(first["saved_model_file"]), _weights(second["saved_model_file"])
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert first["test_result"] == second["test_result"]


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


def test_two_runs_in_one_folder_in_the_same_second_keep_their_own_phase_and_resume_files(toy, monkeypatch):
    """Phase checkpoints and resume files were named to the second: a second run started in the same second (e.g.
    cells side by side on one GPU) overwrote the first's."""
    from recbole_ilm.checkpoint_io import read_checkpoint
    from recbole_ilm.quick_start import run_recbole_ilm
    from recbole_ilm.trainer import resume

    monkeypatch.setattr(resume, "get_local_time", lambda: "Nov-26-2026_01-00-00")  # one second for both
    first = run_recbole_ilm(model="BackboneOnly", dataset="toy", config_dict=toy(phase=0, seed=1))
    second = run_recbole_ilm(model="BackboneOnly", dataset="toy", config_dict=toy(phase=0, seed=2))
    assert first["saved_model_file"] != second["saved_model_file"]
    assert read_checkpoint(first["saved_model_file"])["config"]["seed"] == 1
    folder = os.path.dirname(first["saved_model_file"])
    assert len(glob.glob(os.path.join(folder, "BackboneOnly-toy-Nov-26-2026_01-00-00-*.resume.pth"))) == 2
