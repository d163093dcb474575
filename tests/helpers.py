"""Build config / dataset / dataloaders / model for the toy dataset in one call."""

from recbole.utils import init_seed

from recbole_ilm.config import Config
from recbole_ilm.data.dataset import create_dataset, data_preparation
from recbole_ilm.lookup import get_model


def build(model, config_dict, dataset="toy", with_model=True):
    config = Config(model=model, dataset=dataset, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    ds = create_dataset(config)
    train, valid, test = data_preparation(config, ds)
    net = get_model(config["model"])(config, train._dataset) if with_model else None
    return config, ds, (train, valid, test), net
