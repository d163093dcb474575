"""RecBole ``Config`` that also knows the plugin's models and YAML files.

Layering, lowest to highest priority:

1. RecBole's own defaults (``overall.yaml``, its model YAML for RecBole models, its sequential quick-start YAML);
2. ``properties/overall.yaml`` of this plugin;
3. ``properties/frozen_llm.yaml`` for every frozen-LLM model (shared phase-0/2 training keys);
4. ``properties/model/<Model>.yaml`` of this plugin;
5. ``dataset_configs/<dataset>.yaml`` of this plugin;
6. the user's ``config_file_list`` (``--config_files``), then ``config_dict``, then ``--key=value``.
"""

import os

from recbole.config import Config as RecBoleConfig

from recbole_ilm import compat
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.llm.smollm import resolve_llm_path
from recbole_ilm.lookup import get_model
from recbole_ilm.options import validate_options
from recbole_ilm.resources import resource_dir

compat.apply()


def plugin_yaml_files(model_name, dataset_name, frozen_llm=False):
    """The plugin's YAML files for a model/dataset pair, in layering order (missing files are skipped)."""
    files = [
        os.path.join(resource_dir("properties"), "overall.yaml"),
        os.path.join(resource_dir("properties"), "frozen_llm.yaml") if frozen_llm else "",
        os.path.join(resource_dir("properties"), "model", f"{model_name}.yaml"),
        os.path.join(resource_dir("dataset_configs"), f"{dataset_name}.yaml"),
    ]
    return [f for f in files if os.path.isfile(f)]


class Config(RecBoleConfig):
    """RecBole's Config with plugin model lookup, plugin YAML layers and early, readable validation."""

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None):
        compat.apply()
        for path in config_file_list or []:
            if not os.path.isfile(path):
                raise ILMConfigError(f"--config_files: no such file '{path}'")
        super().__init__(model, dataset, config_file_list, config_dict)
        compat.disable_recbole_anomaly_mode()
        validate_options(self)
        self._check_data_files()
        if self["llm_path"]:
            self["llm_path"] = resolve_llm_path(self["llm_path"])

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise ILMConfigError("no model given: pass -m/--model (e.g. -m ILM or -m SASRec)")
        if dataset is None:
            dataset = self.external_config_dict.get("dataset")
            if dataset is None:
                raise ILMConfigError("no dataset given: pass -d/--dataset (e.g. -d ml-100k)")
        if isinstance(model, str):
            return model, get_model(model), dataset
        return model.__name__, model, dataset

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        dataset_yaml = os.path.join(resource_dir("dataset_configs"), f"{dataset}.yaml")
        for path in plugin_yaml_files(model, dataset, getattr(model_class, "uses_prompts", False)):
            loaded = self._update_internal_config_dict(path) or {}
            if path == dataset_yaml:  # a new list: RecBole's Dataset group is its module-level list, shared
                self.parameters["Dataset"] = self.parameters["Dataset"] + [
                    k for k in loaded if k not in self.parameters["Dataset"]]

    def _init_device(self):
        """RecBole's device setup, plus multi-process CPU training: RecBole hard-codes NCCL (GPUs only), so
        when a distributed run (``local_rank`` given) has no usable GPU, the process group uses gloo."""
        import torch

        cfg = self.final_config_dict
        use_cuda = torch.cuda.is_available() and cfg.get("use_gpu", True) and str(cfg["gpu_id"]) != ""
        if "local_rank" not in cfg or use_cuda:
            return super()._init_device()
        cfg["gpu_id"] = str(cfg["gpu_id"])
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(
                backend="gloo", rank=cfg["local_rank"] + cfg.get("offset", 0), world_size=cfg["world_size"],
                init_method=f"tcp://{cfg['ip']}:{cfg['port']}",
            )
        cfg["device"] = torch.device("cpu")
        cfg["single_spec"] = False
        if cfg["local_rank"] != 0:
            cfg["state"], cfg["show_progress"], cfg["verbose"] = "error", False, False

    def _check_data_files(self):
        data_path, name = self["data_path"], self["dataset"]
        inter_file = os.path.join(data_path, f"{name}.inter")
        if self["benchmark_filename"]:
            return
        if not os.path.isfile(inter_file):
            parent = os.path.dirname(os.path.normpath(data_path))
            raise ILMConfigError(
                f"data_path: no atomic file '{inter_file}'. Point --data_path at the folder that contains "
                f"'{name}/{name}.inter' (it is now '{parent}'), or make the files from the public raw data: "
                f"python -m recbole_ilm.data.prepare movielens --raw <folder> --name {name} (MovieLens) or "
                f"python -m recbole_ilm.data.prepare amazon --reviews <reviews_*.json.gz> --meta <meta_*.json.gz> "
                f"--name {name} (Amazon 2014)"
            )
