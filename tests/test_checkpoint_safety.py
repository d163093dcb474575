"""Issue 11 (item 8): a checkpoint never runs code, through every entry point that reads one."""

import os
import sys

import pytest
import torch
import yaml

from recbole_ilm.errors import ILMConfigError


class Payload:
    """What an attacker pickles: unpickling calls ``os.system`` (here: create a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Harmless:  # a class nobody allowed, without side effects
    def __init__(self, value):
        self.value = value


@pytest.fixture()
def evil(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "config": Payload(str(marker)), "format": "recbole-ilm/1", "model": "ILM",
                "dataset": "toy", "kind": "chat"}, path)
    return str(path), marker


def _refused(capsys, marker):
    err = capsys.readouterr().err
    assert "was refused" in err and "posix.system" in err and "RECBOLE_ILM_TRUST_CHECKPOINTS" in err, err
    assert not marker.exists(), "the checkpoint's payload ran"


def test_read_checkpoint_refuses_a_payload_and_names_it(evil):
    from recbole_ilm.checkpoint_io import read_checkpoint

    path, marker = evil
    with pytest.raises(ILMConfigError, match=r"refused: it asks to load posix\.system"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["evaluate", "recommend", "chat"])
def test_command_line_tools_refuse_a_payload(entry, evil, capsys):
    path, marker = evil
    if entry == "evaluate":
        from recbole_ilm.evaluate import main
        argv = ["--checkpoint", path]
    elif entry == "recommend":
        from recbole_ilm.recommend import main
        argv = ["--checkpoint", path, "--user", "u1"]
    else:
        from recbole_ilm.chat.__main__ import main
        argv = ["--checkpoint", path]
    assert main(argv) == 2
    _refused(capsys, marker)


def _toy_yaml(toy, tmp_path, **extra):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({**toy(), **extra}))
    return str(path)


@pytest.mark.parametrize("option", ["resume", "cf_checkpoint", "init_checkpoint"])
def test_training_entry_point_refuses_a_payload(option, evil, toy, tmp_path, capsys, monkeypatch):
    import run_recbole_ilm

    path, marker = evil
    extra = {"cf_source": "checkpoint"} if option == "cf_checkpoint" else {}
    argv = ["-m", "ILM", "-d", "toy", "--config_files", _toy_yaml(toy, tmp_path, **extra), f"--{option}={path}"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_ilm.py"] + argv)
    assert run_recbole_ilm.main(argv) == 2
    _refused(capsys, marker)


def test_recboles_own_load_data_and_model_refuses_a_payload(evil):
    import recbole.quick_start

    import recbole_ilm  # noqa: F401  (registers the plugin's loader in RecBole)

    path, marker = evil
    with pytest.raises(ILMConfigError, match="posix.system"):
        recbole.quick_start.load_data_and_model(path)
    assert not marker.exists()


def test_a_genuine_recbole_checkpoint_loads_and_full_unpickling_is_opt_in(toy, tmp_path, monkeypatch):
    from recbole_ilm.checkpoint_io import read_checkpoint
    from recbole_ilm.quick_start import load_data_and_model, run_recbole_ilm

    sasrec = run_recbole_ilm(model="SASRec", dataset="toy",
                             config_dict=toy(hidden_size=16, inner_size=32, n_layers=1, n_heads=1))
    config, model, *_ = load_data_and_model(sasrec["saved_model_file"])  # RecBole's pickled Config
    assert config["model"] == "SASRec" and model.item_embedding.weight.shape[1] == 16

    other = tmp_path / "other.pth"
    torch.save({"state_dict": {}, "config": Harmless(3)}, other)
    with pytest.raises(ILMConfigError, match="Harmless"):
        read_checkpoint(str(other))
    monkeypatch.setenv("RECBOLE_ILM_TRUST_CHECKPOINTS", "1")  # the documented opt-in
    assert read_checkpoint(str(other))["config"].value == 3


def test_a_checkpoint_goes_to_a_folder_not_made_yet(tmp_path):
    """chat_train saves to checkpoint_dir, which nothing had created when the cache lived elsewhere: the ML-1M chat
    run lost its results to "Parent directory saved does not exist" after 11 minutes."""
    from recbole_ilm.checkpoint_io import write_atomic

    path = tmp_path / "saved" / "deeper" / "chat.pth"
    write_atomic({"state_dict": {"w": torch.ones(2)}}, str(path))
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["chat.pth"]  # no temporary file left
