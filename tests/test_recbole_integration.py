"""Issue 7: RecBole's own entry points, HyperTuning, inference helpers, CF tables from RecBole checkpoints."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

from conftest import ROOT
from recbole_ilm.errors import ILMConfigError


def _yaml(tmp_path, config, **extra):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**config, **extra}))
    return str(path)


def test_existing_recbole_script_trains_ilm_after_importing_the_plugin(tmp_path, toy):
    """Written like a user's script: RecBole first, then ``import recbole_ilm``, then RecBole's run_recbole.

    (On numpy 2, ``recbole.quick_start`` itself can only be imported after the plugin's numpy shim: it imports
    ray, which reads ``np.bool8`` at import time.)
    """
    config_file = _yaml(tmp_path, toy())
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(f"""
        import recbole
        from recbole.utils import get_model, get_trainer, ModelType
        import recbole_ilm
        from recbole.quick_start import run_recbole

        import recbole.utils
        assert recbole.utils.get_model("ILM").__module__ == "recbole_ilm.model.ilm"
        assert recbole.utils.get_trainer(ModelType.SEQUENTIAL, "ILM").__name__ == "ILMTrainer"
        assert recbole.utils.get_model("SASRec").__module__.startswith("recbole.model")
        result = run_recbole(model="ILM", dataset="toy", config_file_list=[{config_file!r}])
        print("NDCG10", result["test_result"]["ndcg@10"])
    """))
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NDCG10" in proc.stdout
    saved = os.listdir(toy()["checkpoint_dir"])
    for phase in ("phase0", "phase1", "phase2"):  # one tiny epoch per phase, a checkpoint each
        assert any(name.startswith(f"ILM-toy-{phase}-") for name in saved), saved


def test_plugin_defaults_apply_through_recbole_config(toy):
    from recbole.quick_start import quick_start

    config = quick_start.Config(model="ILM", dataset="toy", config_dict=toy())
    assert config["phase1_schedule"] == ["item_text", "item_item", "item_text", "user_item"]  # properties/ILM.yaml


def test_registration_can_be_undone():
    import recbole.utils

    from recbole_ilm import registry

    registry.unregister()
    try:
        with pytest.raises(Exception):
            recbole.utils.get_model("ILM")
    finally:
        registry.register()
    assert recbole.utils.get_model("ILM").__name__ == "ILM"


def test_hypertuning_two_tiny_trials(tmp_path, toy):
    pytest.importorskip("hyperopt")
    from recbole.trainer import HyperTuning

    from recbole_ilm.quick_start import objective_function

    fixed = _yaml(tmp_path, toy(), model="ILM", dataset="toy")
    tuner = HyperTuning(objective_function, algo="exhaustive", max_evals=2,
                        params_dict={"choice": {"num_query_tokens": [1, 2]}}, fixed_config_file_list=[fixed])
    tuner.run()
    assert len(tuner.params2result) == 2
    assert {"num_query_tokens:1", "num_query_tokens:2"} == set(tuner.params2result)
    out = tmp_path / "hyper.result"
    tuner.export_result(output_file=str(out))
    assert "Test result" in out.read_text()


def test_save_reload_gives_identical_full_sort_topk(toy):
    from recbole.quick_start import load_data_and_model as recbole_load  # the plugin's, after the import
    from recbole.utils.case_study import full_sort_topk

    from recbole_ilm.quick_start import load_data_and_model, run_recbole_ilm

    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())
    config, model, dataset, train, valid, test = load_data_and_model(result["saved_model_file"])
    users = test._dataset.inter_feat["user_id"][:5].numpy()
    first = full_sort_topk(users, model, test, k=10)
    config2, model2, _, _, _, test2 = recbole_load(result["saved_model_file"])
    second = full_sort_topk(users, model2, test2, k=10)
    assert torch.equal(first.indices, second.indices)
    torch.testing.assert_close(first.values, second.values)
    # the model trained in this process gives the same ranking as the reloaded one
    assert first.indices.shape == (5, 10) and (first.indices > 0).all()


def test_recommend_prints_titles(toy):
    from recbole_ilm.quick_start import load_data_and_model, run_recbole_ilm
    from recbole_ilm.recommend import recommend

    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())
    config, model, _, _, _, test = load_data_and_model(result["saved_model_file"])
    history, ranked = recommend(config, model, test, "u3", topk=5)
    assert len(ranked) == 5 and all(token.startswith("i") for token, _, _ in ranked)
    assert all("movie number" in text for _, text, _ in ranked)
    assert history and history[-1][0].startswith("i")
    with pytest.raises(ILMConfigError, match="unknown user id 'nobody'"):
        recommend(config, model, test, "nobody")


def test_cf_from_a_recbole_checkpoint_and_a_clear_error_for_a_wrong_one(toy):
    from recbole_ilm.quick_start import run_recbole_ilm

    bpr = run_recbole_ilm(model="BPR", dataset="toy", config_dict=toy(
        epochs=1, train_neg_sample_args={"distribution": "uniform", "sample_num": 1}, embedding_size=8,
        train_batch_size=64))
    result = run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(
        cf_source="checkpoint", cf_checkpoint=bpr["saved_model_file"]))
    assert "ndcg@10" in result["test_result"]
    sasrec = run_recbole_ilm(model="SASRec", dataset="toy", config_dict=toy(epochs=1, hidden_size=8, inner_size=16))
    result = run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(
        cf_source="checkpoint", cf_checkpoint=sasrec["saved_model_file"]))  # items only: users = mean of items
    assert "ndcg@10" in result["test_result"]
    with pytest.raises(ILMConfigError, match=r"no item embedding table named \['gru_layers'\].*found: .*"
                                             r"item_embedding.weight \(31, 8\)"):
        run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(
            cf_source="checkpoint", cf_checkpoint=sasrec["saved_model_file"], cf_item_param="gru_layers"))
