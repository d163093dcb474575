"""Entry points mirroring ``recbole.quick_start``: run a model, a HyperTuning objective, reload a checkpoint."""

import logging
import os
import sys
from logging import getLogger

from recbole.utils import init_logger, init_seed, set_color

from recbole_ilm.config import Config
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.data.dataset import create_dataset, data_preparation, uses_prompts
from recbole_ilm.data.prompt_cache import use_prompt_assets
from recbole_ilm.checkpoint_io import FORMAT, plain, read_checkpoint
from recbole_ilm.pipeline import build_model, fit_and_test
from recbole_ilm.trained_baselines import OPTIONS, named_options, resolve_named_checkpoints


def run_fingerprint(config):
    """Versions, seed and a hash of the options: what decides whether two runs must give the same numbers."""
    import hashlib
    import json

    import numpy
    import recbole
    import torch
    import transformers

    import recbole_ilm

    options = {k: v for k, v in config.final_config_dict.items() if k not in ("device", "gpu_id", "local_rank")}
    digest = hashlib.sha1(json.dumps(plain(options), sort_keys=True).encode()).hexdigest()[:12]
    return (f"recbole-ilm {recbole_ilm.__version__}, recbole {recbole.__version__}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, numpy {numpy.__version__}; seed {config['seed']}; "
            f"config hash {digest}")


def run_recbole_ilm(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, after_test=None):
    """Train and test one model (plugin or RecBole) on one dataset; returns RecBole's result dict (plus
    ``after_test(trainer, train_data, test_data)``'s dict under "after_test" when given)."""
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)
    logger.info(set_color("Run", "pink") + f": {run_fingerprint(config)}")

    dataset = create_dataset(config)
    logger.info(dataset)
    if uses_prompts(config):
        resolve_named_checkpoints(config, dataset)
    trainer, (train_data, _, test_data), best_valid_score, best_valid_result, test_result = fit_and_test(
        config, dataset, saved=saved, on_model=logger.info)

    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    extra = {"after_test": after_test(trainer, train_data, test_data)} if after_test is not None else {}
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "saved_model_file": getattr(trainer, "saved_model_file", None),
        "throughput": getattr(trainer, "throughput", None),
        **extra,
    }


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, nproc=1, world_size=-1,
        ip="localhost", port="5678", group_offset=0):
    """Like ``recbole.quick_start.run``: one process, or ``nproc`` processes (torch.distributed; NCCL on GPUs, gloo
    on CPUs) of a ``world_size``-process group; returns rank 0's result."""
    if nproc == 1 and world_size <= 0:
        return run_recbole_ilm(model, dataset, config_file_list, config_dict, saved)
    import torch.multiprocessing as mp

    config_dict = _with_named_checkpoints(model, dataset, config_file_list, config_dict)

    # RecBole's init_logger creates ./log/<model> with exists-then-makedirs: ranks racing there crashed one (CI)
    os.makedirs(os.path.join("log", str(model or "ILM")), exist_ok=True)
    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = {**(config_dict or {}), "world_size": world_size if world_size > 0 else nproc, "ip": ip,
                   "port": str(port), "nproc": nproc, "offset": group_offset}
    try:
        mp.spawn(_run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue), nprocs=nproc,
                 join=True)
    except mp.ProcessRaisedException as e:  # a rank failed: surface a config error as one, not a traceback
        last = str(e).strip().splitlines()[-1]
        prefix = "recbole_ilm.errors.ILMConfigError: "
        if last.startswith(prefix):
            raise ILMConfigError(last[len(prefix):]) from None
        raise
    return None if queue.empty() else queue.get()


def _with_named_checkpoints(model, dataset, config_file_list, config_dict):
    """``config_dict`` with the RecBole models that cf_checkpoint / distill_checkpoint name trained (or found) here,
    once, and given by path: ranks that each trained them would race to write the same cache entry."""
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    if not uses_prompts(config) or not named_options(config):
        return config_dict
    init_seed(config["seed"], config["reproducibility"])
    resolve_named_checkpoints(config, create_dataset(config))
    return {**(config_dict or {}), **{option: config[option] for option in OPTIONS}}


def _share_cpu_threads(nproc):
    """Ranks on CPUs split the machine's cores. torch's default (one thread per core in every rank) oversubscribes
    them: phase 1 on ml-100k ran 10x slower per epoch with 2 ranks on 2 cores (190 s vs 18 s in one process)."""
    import torch

    if torch.cuda.is_available() or os.environ.get("OMP_NUM_THREADS"):
        return
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))


def _run_rank(rank, model, dataset, config_file_list, config_dict, saved, queue):
    import torch.distributed as dist

    _share_cpu_threads(config_dict["nproc"])

    result = run_recbole_ilm(model, dataset, config_file_list, {**config_dict, "local_rank": rank}, saved)
    if rank == 0:
        queue.put({k: v for k, v in result.items()})
    if dist.is_initialized():
        dist.barrier()  # tearing gloo down while another rank still talks to it aborts that rank (SIGABRT)
        dist.destroy_process_group()


def objective_function(config_dict=None, config_file_list=None, saved=True):
    """Objective for RecBole's ``HyperTuning``: train with the given parameters, return valid/test results."""
    config = Config(config_dict=config_dict, config_file_list=config_file_list)
    init_seed(config["seed"], config["reproducibility"])
    logging.basicConfig(level=logging.ERROR)
    dataset = create_dataset(config)
    if uses_prompts(config):
        resolve_named_checkpoints(config, dataset)
    _, _, best_valid_score, best_valid_result, test_result = fit_and_test(config, dataset, saved=saved, verbose=False)
    return {
        "model": config["model"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }


def config_from_checkpoint(checkpoint):
    """The run's Config: rebuilt from plain options (plugin format) or RecBole's pickled Config."""
    if checkpoint.get("format") != FORMAT:
        return checkpoint["config"]
    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config also reads --key=value from the command line
    try:
        return Config(model=checkpoint["model"], dataset=checkpoint["dataset"], config_dict=checkpoint["config"])
    finally:
        sys.argv = argv


def load_data_and_model(model_file):
    """Reload a checkpoint saved by a plugin (or RecBole) trainer with its config, data and dataloaders."""
    checkpoint = read_checkpoint(model_file, map_location="cpu")
    config = config_from_checkpoint(checkpoint)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    if checkpoint.get("prompts"):  # the checkpoint's own ids and tokenizer, whatever the local cache holds
        use_prompt_assets(config, dataset, checkpoint["prompts"])
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = build_model(config, train_data)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:  # e.g. a checkpoint of another model size or dataset filtering
        first = str(e).splitlines()[1].strip()[:300] if "\n" in str(e) else str(e)[:300]
        raise ILMConfigError(f"checkpoint '{model_file}' does not fit {config['model']} on {config['dataset']} as "
                             f"configured now ({first})") from None
    model.load_other_parameter(checkpoint.get("other_parameter"))
    return config, model, dataset, train_data, valid_data, test_data
