import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from recbole_ilm import config as config_module
from recbole_ilm.config import Config
from recbole_ilm.errors import ILMConfigError


def test_layering_user_over_dataset_over_model_over_overall(tmp_path, toy, monkeypatch):
    props, dsets = tmp_path / "properties", tmp_path / "dataset_configs"
    (props / "model").mkdir(parents=True)
    dsets.mkdir()
    (props / "overall.yaml").write_text(yaml.safe_dump({"k_a": 1, "k_b": 1, "k_c": 1, "k_d": 1, "k_e": 1}))
    (props / "model" / "SASRec.yaml").write_text(yaml.safe_dump({"k_b": 2, "k_c": 2, "k_d": 2, "k_e": 2}))
    (dsets / "toy.yaml").write_text(yaml.safe_dump({"k_c": 3, "k_d": 3, "k_e": 3}))
    user_file = tmp_path / "user.yaml"
    user_file.write_text(yaml.safe_dump({"k_d": 4, "k_e": 4}))
    monkeypatch.setattr(config_module, "resource_dir", lambda name: str(tmp_path / name))
    config = Config(model="SASRec", dataset="toy", config_file_list=[str(user_file)], config_dict={**toy(), "k_e": 5})
    assert [config[k] for k in ("k_a", "k_b", "k_c", "k_d", "k_e")] == [1, 2, 3, 4, 5]
    assert config["n_layers"] == 2  # RecBole's own SASRec default is still underneath


def test_shipped_dataset_config_is_applied():
    config = Config(model="SASRec", dataset="ml-100k", config_dict={"state": "WARNING"})
    assert config["MAX_ITEM_LIST_LENGTH"] == 20
    assert config["eval_args"]["split"] == {"LS": "valid_and_test"}
    assert config["valid_metric"] == "NDCG@10"
    assert config["item_text_fields"] == ["movie_title", "release_year", "class"]


def test_the_dataset_yamls_keys_join_this_configs_dataset_group_only():
    """The dataset YAML's own keys (item_text_fields, ...) are listed as Dataset options of the Config that read it,
    not added to RecBole's module-level list, which every later Config (and trained_baselines' cache key) reads."""
    from recbole.utils.argument_list import dataset_arguments

    config = Config(model="SASRec", dataset="ml-100k")
    assert "item_text_fields" in config.parameters["Dataset"]
    assert "item_text_fields" not in dataset_arguments  # (RecBole itself adds its own ml-100k YAML's keys there)


def test_unknown_model_is_a_clear_error(toy):
    with pytest.raises(ILMConfigError, match="unknown model 'NoSuchRec'"):
        Config(model="NoSuchRec", dataset="toy", config_dict=toy())


def test_data_path_without_atomic_files(tmp_path, toy):
    with pytest.raises(ILMConfigError, match="data_path: no atomic file .*toy.inter"):
        Config(model="SASRec", dataset="toy", config_dict=toy(data_path=str(tmp_path / "nothing")))


def test_malformed_option_value(toy):
    with pytest.raises(ILMConfigError, match="option 'qformer_layers' must be a positive int"):
        Config(model="ILM", dataset="toy", config_dict=toy(qformer_layers=-2))


def test_text_field_that_does_not_exist(toy):
    from recbole_ilm.data.dataset import create_dataset

    config = Config(model="SASRec", dataset="toy", config_dict=toy(item_text_fields=["title", "plot"]))
    with pytest.raises(ILMConfigError, match=r"item_text_fields: \['plot'\] not in 'toy.item'"):
        create_dataset(config)


def test_cli_prints_one_line_error_for_unknown_model(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "run_recbole_ilm.py"), "-m", "NoSuchRec", "-d",
                           "ml-100k"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: -m/--model: unknown model 'NoSuchRec'")
    assert "Traceback" not in proc.stderr


def test_sasrec_runs_through_the_plugin_entry_point(toy):
    from recbole_ilm.quick_start import run_recbole_ilm

    result = run_recbole_ilm(model="SASRec", dataset="toy", config_dict=toy(epochs=1, train_batch_size=64))
    assert set(result["test_result"]) == {"hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10"}
    assert 0.0 <= result["test_result"]["ndcg@10"] <= 1.0


def test_cli_hands_recbole_only_key_value_options(tmp_path, toy, caplog, monkeypatch):
    """RecBole warns 'command line args [...] will not be used' for every flag it does not read (-m, -d,
    --config_files, ...): the command line passes it only --key=value options, and says which it cannot read."""
    import logging

    import run_recbole_ilm

    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(toy(hidden_size=16, inner_size=32, n_layers=1, n_heads=1)))
    argv = ["-m", "SASRec", "-d", "toy", "--config_files", str(config), "--epochs=1"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_ilm.py"] + argv)
    caplog.set_level(logging.WARNING)
    assert run_recbole_ilm.main(argv) == 0
    assert "will not be used" not in caplog.text
    assert run_recbole_ilm.main(argv + ["stray"]) == 2
