"""The train-and-test step shared by the entry points (``quick_start``) and the RecBole models trained on demand
(``trained_baselines``): dataloaders, model, RecBole's ``fit`` with early stopping on valid, the test pass."""

from recbole.utils import init_seed

from recbole_ilm.data.dataset import data_preparation
from recbole_ilm.lookup import get_model, get_trainer


def build_model(config, train_data):
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    return get_model(config["model"])(config, train_data._dataset).to(config["device"])


def fit_and_test(config, dataset, saved=True, verbose=True, on_model=None):
    """``(trainer, (train, valid, test), best_valid_score, best_valid_result, test_result)`` of one run on
    ``dataset``; ``on_model(model)`` is called once the model is built (e.g. to log it)."""
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = build_model(config, train_data)
    if on_model is not None:
        on_model(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, verbose=verbose, saved=saved,
                                                      show_progress=config["show_progress"])
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    return trainer, (train_data, valid_data, test_data), best_valid_score, best_valid_result, test_result
