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


class Pickled:  # a non-tensor object, like RecBole's pickled Config inside checkpoints
    def __init__(self, value):
        self.value = value


def test_trusted_checkpoint_loads_pickled_objects(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"config": Pickled(3), "w": torch.ones(2)}, path)
    loaded = compat.load_checkpoint(path, trusted=True)
    assert loaded["config"].value == 3
    if compat._load_accepts_weights_only():
        try:
            compat.load_checkpoint(path, trusted=False)
        except Exception as e:  # weights_only refuses arbitrary classes
            assert "Pickled" in str(e) or "weights_only" in str(e)
        else:  # pragma: no cover - a torch whose default allows everything
            raise AssertionError("untrusted load accepted a pickled class")


def test_anomaly_mode_is_off_after_recbole_models_are_imported():
    torch.autograd.set_detect_anomaly(True)  # what RecBole's sine.py does on import
    compat.disable_recbole_anomaly_mode()
    assert not torch.is_anomaly_enabled()
    from recbole_ilm.utils import get_model

    get_model("SASRec")
    assert not torch.is_anomaly_enabled()
