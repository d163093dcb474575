"""RecBole models trained on demand: ``cf_checkpoint`` and ``distill_checkpoint`` may name a RecBole model.

``cf_checkpoint: SASRec`` (or ``distill_checkpoint: GRU4Rec``) instead of a ``.pth`` path makes the run train that
RecBole model on the same dataset, filtering, split and seed as the run itself, with RecBole's defaults for the
model plus ``recbole_model_config`` (early stopping on valid), once: the checkpoint is cached in
``<ilm_cache_dir>/<dataset>/recbole-<Model>-<hash>/model.pth`` with its valid and test results in ``meta.json``, and
the option is replaced by that path (so the run's own checkpoint records the file it used). The hash covers the
dataset's vocabulary, the model and every option that decides its weights, so another seed or filtering trains
another model. Training it leaves the run's random state as it was: a run gives the same numbers whether the model
was trained now or found in the cache.
"""

import json
import os
import random
import shutil
import time
from logging import getLogger

import numpy as np
import torch

from recbole_ilm.cache import atomic_folder, cache_path, dataset_fingerprint
from recbole_ilm.errors import ILMConfigError

# option -> whether the run reads it
OPTIONS = {"cf_checkpoint": lambda config: config["cf_source"] == "checkpoint",
           "distill_checkpoint": lambda config: bool(config["distill_weight"])}
# RecBole 1.2.1's Dataset and Training arguments (recbole/utils/argument_list.py), spelled out: RecBole appends a
# dataset's YAML keys to its own Dataset list whenever a Config reads one, so that list depends on what ran before
DATASET_OPTIONS = (
    "field_separator", "seq_separator", "USER_ID_FIELD", "ITEM_ID_FIELD", "RATING_FIELD", "TIME_FIELD", "seq_len",
    "LABEL_FIELD", "threshold", "NEG_PREFIX", "ITEM_LIST_LENGTH_FIELD", "LIST_SUFFIX", "MAX_ITEM_LIST_LENGTH",
    "POSITION_FIELD", "HEAD_ENTITY_ID_FIELD", "TAIL_ENTITY_ID_FIELD", "RELATION_ID_FIELD", "ENTITY_ID_FIELD",
    "load_col", "unload_col", "unused_col", "additional_feat_suffix", "rm_dup_inter", "val_interval",
    "filter_inter_by_user_or_item", "user_inter_num_interval", "item_inter_num_interval", "alias_of_user_id",
    "alias_of_item_id", "alias_of_entity_id", "alias_of_relation_id", "preload_weight", "normalize_field",
    "normalize_all", "benchmark_filename")
TRAINING_OPTIONS = ("epochs", "train_batch_size", "learner", "learning_rate", "train_neg_sample_args", "eval_step",
                    "stopping_step", "clip_grad_norm", "weight_decay", "loss_decimal_place")
# the run's options that the trained model inherits besides the dataset's: negative sampling (off for the
# sequential protocol), the split, validation and seed
INHERITED = ("train_neg_sample_args", "eval_args", "repeatable", "metrics", "topk", "valid_metric",
             "valid_metric_bigger", "seed", "reproducibility", "state", "show_progress")


def recbole_model_class(name):
    """The RecBole model class called ``name``, or None (a file path, a plugin model, an unknown name)."""
    from recbole.utils import get_model

    if not isinstance(name, str) or os.sep in name or name.endswith(".pth"):
        return None
    try:
        model_class = get_model(name)
    except (ValueError, TypeError, KeyError, ImportError):
        return None
    return model_class if model_class.__module__.startswith("recbole.model.") else None


def model_options(config):
    """What decides a trained RecBole model's weights, read from its Config: the model's own YAML keys (RecBole's
    ``properties/model/<Model>.yaml``), RecBole's training and dataset options, the split, validation and seed."""
    import yaml

    import recbole

    model_yaml = os.path.join(os.path.dirname(recbole.__file__), "properties", "model", f"{config['model']}.yaml")
    own = []
    if os.path.isfile(model_yaml):
        with open(model_yaml, encoding="utf-8") as f:
            own = list(yaml.safe_load(f) or {})
    skip = {"checkpoint_dir", "show_progress", "state", "data_path"}
    names = [n for n in own + list(TRAINING_OPTIONS) + list(DATASET_OPTIONS) + list(INHERITED) if n not in skip]
    return {n: config[n] for n in dict.fromkeys(names) if n in config}


def cache_key(config, fingerprint):
    return {"model": config["model"], "dataset": fingerprint, "options": model_options(config)}


def model_config(run_config, name):
    """The Config of RecBole model ``name`` on the run's dataset: the run's dataset options, split, validation and
    seed, then ``recbole_model_config``."""
    from recbole_ilm.config import Config

    # the values the run was given (its files, config_dict, command line), not its processed ones; the dataset's
    # YAML layer is the same for both Configs
    given = run_config.external_config_dict
    inherited = {k: given[k] for k in DATASET_OPTIONS + INHERITED if k in given}
    inherited.update(seed=run_config["seed"], reproducibility=run_config["reproducibility"],
                     data_path=os.path.dirname(os.path.normpath(run_config["data_path"])))
    extra = run_config["recbole_model_config"] or {}
    return Config(model=name, dataset=run_config["dataset"],
                  config_dict={**inherited, **extra, "checkpoint_dir": run_config["checkpoint_dir"]})


def named_options(config):
    """``{option: RecBole model name}`` of the options of :data:`OPTIONS` that the run reads and that name a model
    (not a file; a wrong value is left to the option's reader, which reports it)."""
    names = {option: config[option] for option, used in OPTIONS.items() if option in config and used(config)}
    return {option: name for option, name in names.items()
            if name and not os.path.exists(name) and recbole_model_class(name) is not None}


def resolve_named_checkpoints(config, dataset):
    """Replace each option of :func:`named_options` by the path of that model's cached checkpoint, training it
    first if the cache has none. ``dataset`` is the run's dataset (its vocabulary keys the cache)."""
    for option, name in named_options(config).items():
        path = trained_checkpoint(config, dataset, name, option)
        config[option] = path
        config.external_config_dict[option] = path  # what the run's checkpoint records: a reload reads this file


def _check_trainable(config, option):
    """Stop before training what the option cannot use or RecBole cannot train as configured."""
    from recbole.model.abstract_recommender import SequentialRecommender
    from recbole.utils import InputType

    name = config["model"]
    if option == "distill_checkpoint" and not issubclass(config.model_class, SequentialRecommender):
        raise ILMConfigError(f"distill_checkpoint: {name} is not a RecBole sequential model; name one such as "
                             f"GRU4Rec or SASRec")
    if config["MODEL_INPUT_TYPE"] == InputType.PAIRWISE and config["train_neg_sample_args"]["distribution"] \
            == "none":
        raise ILMConfigError(f"{option}: {name} trains on negative samples, which this dataset config turns off; "
                             f"add recbole_model_config: {{train_neg_sample_args: {{distribution: uniform, "
                             f"sample_num: 1}}}}")


def trained_checkpoint(run_config, dataset, name, option):
    """The cached checkpoint of RecBole model ``name`` for this run's data, options and seed; trained first if
    missing (the run's random state restored afterwards)."""
    logger = getLogger()
    config = model_config(run_config, name)
    _check_trainable(config, option)
    fingerprint = dataset_fingerprint(dataset)
    folder = cache_path(run_config, f"recbole-{name}", cache_key(config, fingerprint))
    path = os.path.join(folder, "model.pth")
    if os.path.isfile(path):
        logger.info(f"{option}: {name} from the cache, {path}")
        return path
    if not run_config["single_spec"]:  # ranks that each trained it would race to write the same cache entry
        raise ILMConfigError(f"{option}: {name} is not in the cache yet and this process is one rank of a "
                             f"multi-process run; start the run with run_recbole_ilm.py --nproc (it trains {name} "
                             f"once before the ranks start), or run it once with one process, or give a .pth path")
    logger.info(f"{option}: training RecBole's {name} on {run_config['dataset']} (seed {config['seed']}) for "
                f"{path}")
    state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        with atomic_folder(folder) as tmp:
            config["checkpoint_dir"] = tmp
            meta = _train(config, fingerprint, option)
            _write_entry(tmp, meta.pop("saved_model_file"), meta, move=True)
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
    logger.info(f"{option}: {name} trained in {meta['seconds']:.0f} s, best valid {meta['valid']}")
    return path


def _train(config, fingerprint, option):
    """Fit and test RecBole model ``config['model']`` as the quick start does; its result without weights."""
    from recbole.utils import init_seed

    from recbole_ilm.data.dataset import create_dataset
    from recbole_ilm.pipeline import fit_and_test

    start = time.time()
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    if dataset_fingerprint(dataset) != fingerprint:
        raise ILMConfigError(f"{option}: RecBole's {config['model']} sees other users/items than this run "
                             f"(recbole_model_config must not change the dataset's filtering)")
    trainer, _, _, valid, test = fit_and_test(config, dataset)
    return {"model": config["model"], "seed": config["seed"], "valid": {k: float(v) for k, v in valid.items()},
            "test": {k: float(v) for k, v in test.items()}, "seconds": round(time.time() - start, 1),
            "saved_model_file": trainer.saved_model_file}


def _write_entry(folder, model_file, meta, move):
    os.makedirs(folder, exist_ok=True)
    (os.replace if move else shutil.copyfile)(model_file, os.path.join(folder, "model.pth"))
    with open(os.path.join(folder, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)


def store_trained(model_file, meta):
    """Copy the checkpoint of a RecBole model trained by this plugin's entry points (e.g. the benchmark's SASRec
    cell) to where a run naming that model looks for it; a run whose recipe matches (same options, seed, data) then
    uses it instead of training the same model again. Returns the cache folder."""
    from recbole_ilm.checkpoint_io import read_checkpoint
    from recbole_ilm.data.dataset import create_dataset

    config = read_checkpoint(model_file)["config"]
    fingerprint = dataset_fingerprint(create_dataset(config))
    folder = cache_path(config, f"recbole-{config['model']}", cache_key(config, fingerprint))
    if not os.path.isfile(os.path.join(folder, "model.pth")):
        with atomic_folder(folder) as tmp:
            _write_entry(tmp, model_file, {"model": config["model"], "seed": config["seed"], **meta,
                                           "source": os.path.abspath(model_file)}, move=False)
    return folder
