import numpy as np
import torch

from recbole_ilm import compat


def test_numpy_aliases_restored_and_config_builds(toy):
    compat.restore_numpy_aliases()
    for alias, target in compat.NUMPY_ALIASES.items():
        assert getattr(np, alias) is getattr(np, target)
    from recbole_ilm.config import Config

    config = Config(model="SASRec", dataset="toy", config_dict=toy())  # RecBole reads np.float_ in here
    assert config["model"] == "SASRec"


def test_missing_alias_is_added_back(monkeypatch):
    monkeypatch.delattr(np, "unicode_", raising=False)
    added = compat.restore_numpy_aliases()
    assert "unicode_" in added and np.unicode_ is np.str_


def test_anomaly_mode_is_off_after_recbole_models_are_imported():
    torch.autograd.set_detect_anomaly(True)  # what RecBole's sine.py does on import
    compat.disable_recbole_anomaly_mode()
    assert not torch.is_anomaly_enabled()
    from recbole_ilm.lookup import get_model

    get_model("SASRec")
    assert not torch.is_anomaly_enabled()
