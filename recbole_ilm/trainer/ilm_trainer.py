"""One trainer, three phases (RecBole-CDR style): backbone (0), alignment (1), frozen-LLM retrieval (2).

* Phase 0 trains the LLM on text-only prompts with RecBole's own ``fit`` (valid NDCG@10, early stopping) and saves
  it with ``save_pretrained`` in the cache; a later run with the same data, prompts and ``llm_*`` / ``backbone_*``
  options loads it instead. Skipped when ``llm_path`` names an external LLM.
* Phase 1 (ILM only) aligns the Q-Former (see :mod:`recbole_ilm.trainer.phase1`).
* Phase 2 freezes the LLM and trains the item encoder with RecBole's ``fit``.

Each phase writes its own ``saved/<model>-<dataset>-phase<k>-<time>.pth``. ``phase: k`` runs only phase k, starting
from ``init_checkpoint`` (or the cached backbone).
"""

import os
import shutil
from time import time

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import get_local_time, set_color

from recbole_ilm.cache import cache_path
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.trainer.beam_eval import beam_metrics
from recbole_ilm.trainer.checkpoint import CheckpointCompatMixin
from recbole_ilm.trainer.phase1 import AlignmentTrainer


def backbone_dir(config, model):
    key = {
        "prompts": model.prompts.cache_dir,
        "arch": [config[k] for k in ("llm_layers", "llm_hidden_size", "llm_heads", "llm_intermediate_size")],
        "train": [config[k] for k in ("backbone_epochs", "backbone_learning_rate", "train_batch_size",
                                      "train_sample_ratio", "train_tasks", "stopping_step", "seed")],
    }
    return os.path.join(cache_path(config, "backbone", key), "model")


class ILMTrainer(CheckpointCompatMixin, Trainer):
    def __init__(self, config, model):
        super().__init__(config, model)
        self.phase_results = {}

    # ------------------------------------------------------------------ optimizer over trainable parts only
    def _build_optimizer(self, **kwargs):
        params = [p for p in kwargs.pop("params", self.model.trainable_parameters()) if p.requires_grad]
        if not params:
            return None
        return super()._build_optimizer(params=params, **kwargs)

    def _phase_file(self, phase):
        name = f"{self.config['model']}-{self.config['dataset']}-phase{phase}-{get_local_time()}.pth"
        return os.path.join(self.checkpoint_dir, name)

    def _set_slots(self, loaders, on):
        for loader in loaders:
            if loader is not None and hasattr(loader, "with_slots"):
                loader.with_slots = on and self.model.uses_item_slots

    def _recbole_fit(self, phase, train_data, valid_data, epochs, learning_rate, verbose, saved, show_progress):
        """RecBole's fit/early stopping for one phase; leaves the best state of this phase in the model."""
        self.model.set_phase(phase)
        self._set_slots([train_data, valid_data], on=phase != 0)
        self.epochs, self.eval_step = epochs, min(self.config["eval_step"], epochs)
        self.start_epoch, self.cur_step = 0, 0
        self.best_valid_score, self.best_valid_result = -np.inf, None
        self.optimizer = self._build_optimizer(learning_rate=learning_rate)
        self.saved_model_file = self._phase_file(phase)
        score, result = Trainer.fit(self, train_data, valid_data, verbose=verbose, saved=saved,
                                    show_progress=show_progress)
        if saved and os.path.isfile(self.saved_model_file):
            self._load_model_checkpoint(self.saved_model_file)
        self.phase_results[phase] = result
        return score, result

    # ------------------------------------------------------------------ phases
    def _phase0(self, train_data, valid_data, verbose, saved, show_progress):
        model = self.model
        if self.config["llm_path"]:
            self.logger.info(set_color("Phase 0 skipped", "pink") + f": external LLM {self.config['llm_path']}")
            return
        folder = backbone_dir(self.config, model)
        if os.path.isfile(os.path.join(folder, "config.json")):
            from transformers import AutoModelForCausalLM

            saved_llm = AutoModelForCausalLM.from_pretrained(folder)
            model.llm.load_state_dict(saved_llm.state_dict())
            self.logger.info(set_color("Phase 0 skipped", "pink") + f": pretrained backbone loaded from {folder}")
            return
        if self.config["phase"] not in (None, 0):
            raise ILMConfigError(f"phase: {self.config['phase']} needs a pretrained backbone for this config, but "
                                 f"none is cached at {folder}; run phase 0 first (phase: 0) or give init_checkpoint")
        start = time()
        self._recbole_fit(0, train_data, valid_data, self.config["backbone_epochs"],
                          self.config["backbone_learning_rate"], verbose, saved, show_progress)
        tmp = folder + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.llm.save_pretrained(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        self.logger.info(set_color("Phase 0 done", "pink") + f" in {time() - start:.1f}s; backbone saved to {folder}")

    def _phase1(self, train_data, show_progress, saved):
        if not hasattr(self.model.item_encoder, "qformer") or self.config["phase1_epochs"] == 0:
            return
        if not self.config["phase1_losses"]:
            return
        self.model.set_phase(1)
        aligner = AlignmentTrainer(self.config, self.model, train_data._dataset)
        self.phase_results[1] = aligner.fit(show_progress=show_progress)
        if saved:
            self.saved_model_file = self._phase_file(1)
            self.optimizer = aligner.optimizer
            self._save_checkpoint(self.config["phase1_epochs"] - 1, verbose=True)

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        phase = self.config["phase"]
        if self.config["init_checkpoint"]:
            self._load_model_checkpoint(self.config["init_checkpoint"])
        elif phase in (None, 0) or self.model.uses_item_slots:
            self._phase0(train_data, valid_data, verbose, saved, show_progress)
        if phase == 0:
            return self.best_valid_score, self.best_valid_result
        self.model.set_phase(2)
        if phase in (None, 1):
            self._phase1(train_data, show_progress, saved)
        if phase in (None, 2) and self.model.item_encoder is not None and self.config["epochs"] > 0:
            return self._recbole_fit(2, train_data, valid_data, self.config["epochs"], self.learning_rate,
                                     verbose, saved, show_progress)
        # nothing left to train (BackboneOnly, or phase 1 only): validate and save the model as it is
        self._set_slots([train_data, valid_data], on=True)
        self.best_valid_result = self.evaluate(valid_data, load_best_model=False, show_progress=show_progress)
        self.best_valid_score = self.best_valid_result[self.valid_metric] if self.best_valid_result else -np.inf
        if saved:
            self.saved_model_file = self._phase_file(phase if phase is not None else 2)
            self._save_checkpoint(0, verbose=verbose)
        return self.best_valid_score, self.best_valid_result

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        """RecBole's checkpoint format (plus the phase), written atomically: temp file, then rename."""
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        state = {
            "config": self.config,
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": self.best_valid_score,
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "phase": self.model.phase,
        }
        tmp = path + ".tmp"
        torch.save(state, tmp, pickle_protocol=4)
        os.replace(tmp, path)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {path}")

    # ------------------------------------------------------------------ evaluation
    def _valid_epoch(self, valid_data, show_progress=False):
        result = self.evaluate(valid_data, load_best_model=False, show_progress=show_progress, eval_mode="full_sort")
        return result[self.valid_metric], result

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False, eval_mode=None):
        mode = eval_mode or self.config["eval_mode"]
        if mode == "full_sort" or not eval_data:
            return super().evaluate(eval_data, load_best_model, model_file, show_progress)
        if load_best_model:
            self._load_model_checkpoint(model_file or self.saved_model_file)
        self.model.eval()
        return beam_metrics(self.model, eval_data, self.config, constrained=mode == "beam_constrained",
                            show_progress=show_progress)
