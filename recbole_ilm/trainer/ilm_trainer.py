"""One trainer for every frozen-LLM model; it runs the phases the model declares (``model.phases()``), in order:

* **0, backbone** — the LLM trains on text-only prompts with RecBole's own ``fit`` (valid NDCG@10, early
  stopping) and is saved with ``save_pretrained`` in the cache; a later run with the same data, prompts and
  backbone options loads it instead. Skipped when ``llm_path`` names an external LLM.
* **1, alignment** (ILM) — the model's alignment module (the Q-Former) trains on the phase-1 losses
  (:class:`~recbole_ilm.trainer.alignment_trainer.AlignmentTrainer`).
* **2, retrieval** — the LLM is frozen and the item encoder trains with RecBole's ``fit``.

Every phase starts from random states seeded by (seed, phase). Each writes its own
``saved/<model>-<dataset>-phase<k>-<time>-<hex>.pth`` (atomically; tensors and plain data only). ``phase: k`` runs only
phase k, starting from ``init_checkpoint`` (or the cached backbone). A resume file
(``<model>-<dataset>-<time>-<hex>.resume.pth``) is rewritten after every epoch; ``resume: <file>`` continues from it.
"""

import os
from time import time

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import set_color

from recbole_ilm.cache import backbone_eval_step, backbone_patience, backbone_seed
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.llm.backbone import reinit_backbone
from recbole_ilm.retrieval.distill import load_teachers
from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer, lr_schedule
from recbole_ilm.trainer.backbone_cache import backbone_dir, is_cached, load_backbone, save_backbone
from recbole_ilm.trainer.beam_eval import beam_metrics
from recbole_ilm.trainer.checkpoint import CheckpointCompatMixin
from recbole_ilm.trainer.resume import ResumePoints, restore_rng, run_stamp, seed_phase
from recbole_ilm.trainer.throughput import Meter, describe, flops_per_token, peak_flops, precision, use_bf16

BACKBONE, ALIGNMENT, RETRIEVAL = 0, 1, 2


class ILMTrainer(ResumePoints, CheckpointCompatMixin, Trainer):
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
        self.train_data = self.valid_data = None
        self.resume_file = None
        self.run_options = {"verbose": True, "saved": True, "show_progress": False}
        self.throughput = {}  # phase -> per-epoch {examples_per_s, tokens_per_s, seconds, mfu?}

    # ------------------------------------------------------------------ plumbing
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
        """``<model>-<dataset>-phase<k>-<time>-<hex>.pth`` (two runs in one second differ; DDP ranks take rank 0's)."""
        name = [f"{self.config['model']}-{self.config['dataset']}-phase{phase}-{run_stamp()}.pth"]
        if self.distributed:
            torch.distributed.broadcast_object_list(name, src=0)
        return os.path.join(self.checkpoint_dir, name[0])

    def _set_slots(self, on):
        for loader in (self.train_data, self.valid_data):
            if loader is not None and hasattr(loader, "with_slots"):
                loader.with_slots = on and self.model.uses_item_slots

    def _reset_fit_state(self, phase, epochs, learning_rate):
        """RecBole's per-fit fields (epochs, validation interval, early stopping, optimizer, schedule) of a phase."""
        self.eval_step = min(backbone_eval_step(self.config) if phase == BACKBONE else self.config["eval_step"], epochs)
        self.stopping_step = backbone_patience(self.config) if phase == BACKBONE else self.config["stopping_step"]
        self.epochs, self.start_epoch, self.cur_step = epochs, 0, 0
        self.best_valid_score, self.best_valid_result = -np.inf, None
        self.optimizer = self._build_optimizer(learning_rate=learning_rate)
        self.scheduler = None
        if self.optimizer is not None and self.config["lr_schedule"] != "constant":
            total = max(1, epochs * len(self.train_data))
            warmup = int(total * self.config["warmup_ratio"])
            self.scheduler = lr_schedule(self.optimizer, self.config["lr_schedule"], total, max(1, warmup))
            self.optimizer.register_step_post_hook(lambda *args: self.scheduler.step())

    # ------------------------------------------------------------------ RecBole fit for phases 0 and 2
    def _recbole_fit(self, phase, epochs, learning_rate, resume=None):
        """RecBole's fit/early stopping for one phase; leaves the best state of this phase in the model."""
        self.model.set_phase(phase)
        self._set_slots(on=phase != BACKBONE)
        if resume is None:
            seed_phase(self.config, phase, self.train_data)
        self._reset_fit_state(phase, epochs, learning_rate)
        self._wrap_ddp()
        self.saved_model_file = self._phase_file(phase)
        if resume is not None:
            self._restore_fit_state(resume, phase, self.train_data)
        elif phase == RETRIEVAL and self.model.starts_as_backbone():
            self._start_is_a_candidate()

        def on_epoch_end(epoch, score):
            self._write_resume(phase, epoch, self._fit_state())

        opts = self.run_options
        score, result = Trainer.fit(self, self.train_data, self.valid_data, verbose=opts["verbose"],
                                    saved=opts["saved"], show_progress=opts["show_progress"],
                                    callback_fn=on_epoch_end)
        self._barrier()  # rank 0 may still be writing the best checkpoint
        if opts["saved"] and os.path.isfile(self.saved_model_file):
            self._load_model_checkpoint(self.saved_model_file)
        self.phase_results[phase] = result
        return True

    def _start_is_a_candidate(self):
        """``item_token_input: add`` (generative or hybrid head): phase 2 starts as the text-only backbone, a model
        worth keeping. Validate it and save it as the best so far, so early stopping keeps it unless a trained epoch
        beats it on valid."""
        opts = self.run_options
        score, result = self._valid_epoch(self.valid_data, show_progress=opts["show_progress"])
        self.best_valid_score, self.best_valid_result = score, result
        self.logger.info(set_color("phase 2 starts as the backbone", "blue") + f": valid {self.valid_metric} "
                                                                              f"{score:.6f} (kept unless beaten)")
        if opts["saved"]:
            self._save_checkpoint(-1, verbose=opts["verbose"])

    # ------------------------------------------------------------------ the phases
    def _load_cached_backbone(self, required=False):
        """Load the cached phase-0 backbone of this config into the model; False when there is none."""
        folder = backbone_dir(self.config, self.model)
        if not is_cached(folder):
            if required:
                raise ILMConfigError(f"phase: {self.config['phase']} needs a pretrained backbone for this config, "
                                     f"but none is cached at {folder}; run phase 0 first (phase: 0) or give "
                                     f"init_checkpoint")
            return False
        record = load_backbone(folder, self.model.llm)
        if record is not None:  # what training the cached backbone took (examples seen, per epoch)
            self.throughput[BACKBONE] = record
        self.logger.info(set_color("Phase 0 skipped", "pink") + f": pretrained backbone loaded from {folder}")
        return True

    def backbone(self, resume=None):
        """Phase 0: pretrain the LLM on text-only prompts (or load it from the cache)."""
        if self.config["llm_path"]:
            self.logger.info(set_color("Phase 0 skipped", "pink") + f": external LLM {self.config['llm_path']}")
        elif resume is not None or not self._load_cached_backbone():
            start = time()
            if resume is None and self.config["backbone_seed"] is not None and not self.config["init_checkpoint"]:
                reinit_backbone(self.model.llm, self.config, self.model.prompts.tokenizer,
                                backbone_seed(self.config) + self.config["local_rank"])
            self._recbole_fit(BACKBONE, self.config["backbone_epochs"], self.config["backbone_learning_rate"],
                              resume)
            folder = backbone_dir(self.config, self.model)
            if self.config["local_rank"] == 0:
                save_backbone(folder, self.model.llm, self.throughput.get(BACKBONE, []))
            self._barrier()
            self.logger.info(set_color("Phase 0 done", "pink") + f" in {time() - start:.1f}s; backbone saved to "
                                                                  f"{folder}")
        self.model.set_phase(RETRIEVAL)
        return False

    def alignment(self, resume=None):
        """Phase 1: align the model's alignment module (ILM's Q-Former) with the phase-1 losses."""
        if self.config["phase1_epochs"] == 0 or not self.config["phase1_losses"]:
            return False
        self.model.set_phase(ALIGNMENT)
        if resume is None:
            seed_phase(self.config, ALIGNMENT)
        aligner = AlignmentTrainer(self.config, self.model.alignment_target(), self.train_data._dataset)
        start_epoch = 0
        if resume is not None:
            aligner.load_state_dict(resume["aligner"])
            restore_rng(resume["rng"])
            start_epoch = resume["epoch"] + 1
        self.saved_model_file = resume["saved_model_file"] if resume else self._phase_file(ALIGNMENT)

        def on_epoch_end(epoch):
            self._write_resume(ALIGNMENT, epoch, {"aligner": aligner.state_dict()})

        aligner.throughput[:0] = self.throughput.get(ALIGNMENT, [])  # a resumed phase 1's earlier epochs
        self.throughput[ALIGNMENT] = aligner.throughput
        self.phase_results[ALIGNMENT] = aligner.fit(show_progress=self.run_options["show_progress"],
                                                    start_epoch=start_epoch, on_epoch_end=on_epoch_end)
        if self.run_options["saved"]:
            self.optimizer = aligner.optimizer
            self._save_checkpoint(self.config["phase1_epochs"] - 1, verbose=True)
        self._barrier()
        return False

    def retrieval(self, resume=None):
        """Phase 2: train the item encoder on next-id prediction with the LLM frozen."""
        if self.config["epochs"] == 0:
            return False
        return self._recbole_fit(RETRIEVAL, self.config["epochs"], self.learning_rate, resume)

    PHASES = {BACKBONE: backbone, ALIGNMENT: alignment, RETRIEVAL: retrieval}

    def _phases(self):
        declared = tuple(self.model.phases())
        only = self.config["phase"]
        if only is None:
            return declared
        if only not in declared:
            raise ILMConfigError(f"phase: {self.config['model']} has phases {list(declared)}, not {only}")
        return (only,)

    def _start_point(self, resume):
        """Weights before the first phase that runs: a resume point, ``init_checkpoint``, or (for a single later
        phase) the cached backbone."""
        if resume is not None:
            return
        if self.config["init_checkpoint"]:  # e.g. phase 1 of a generative run under a new item head
            self._load_model_checkpoint(self.config["init_checkpoint"], fresh=("item_head.", "token_gate"))
        elif self.config["phase"] not in (None, BACKBONE) and self.model.uses_item_slots:
            if not self.config["llm_path"]:
                self._load_cached_backbone(required=True)

    # ------------------------------------------------------------------ fit
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.train_data, self.valid_data = train_data, valid_data
        self.run_options = {"verbose": verbose, "saved": saved, "show_progress": show_progress}
        phases = self._phases()
        resume = self._open_resume()
        self._start_point(resume)
        if RETRIEVAL in phases:  # read before any training, so a bad distill_checkpoint stops the run at once
            self.model.set_teacher(*load_teachers(self.config, train_data.dataset, self.model))
        trained = False
        for phase in phases:
            if resume is not None and phase < resume["phase"]:
                continue  # finished before the interruption; its result is in the resumed model
            state = resume if resume is not None and phase == resume["phase"] else None
            trained = self.PHASES[phase](self, state)
        if trained or self.config["phase"] == BACKBONE:
            return self.best_valid_score, self.best_valid_result
        return self._validate_and_save()

    def _validate_and_save(self):
        """Nothing ended with a validated fit (BackboneOnly, or phase 1 only): validate and save the model as is."""
        self.model.set_phase(RETRIEVAL)
        self._set_slots(on=True)
        opts = self.run_options
        self.best_valid_result = self.evaluate(self.valid_data, load_best_model=False,
                                               show_progress=opts["show_progress"])
        self.best_valid_score = self.best_valid_result[self.valid_metric] if self.best_valid_result else -np.inf
        if opts["saved"]:
            only = self.config["phase"]
            self.saved_model_file = self._phase_file(only if only is not None else RETRIEVAL)
            self.optimizer = None
            self._save_checkpoint(0, verbose=opts["verbose"])
        return self.best_valid_score, self.best_valid_result

    # ------------------------------------------------------------------ throughput, precision
    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        """RecBole's epoch under this run's precision, with examples/s, tokens/s (and MFU on CUDA) logged."""
        meter = Meter()
        self.model.meter = meter
        meter.start()
        try:
            with precision(self.config, self.device):
                loss = super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        finally:
            self.model.meter = None
        phase = self.model.phase
        stats = meter.stop(flops_per_token(self.model, phase), peak_flops(self.device, use_bf16(self.config,
                                                                                               self.device)))
        self.throughput.setdefault(phase, []).append(stats)
        self.logger.info(set_color(f"phase {phase} epoch {epoch_idx} throughput", "blue") + ": " + describe(stats))
        return loss

    # ------------------------------------------------------------------ evaluation
    def _valid_epoch(self, valid_data, show_progress=False):
        result = self.evaluate(valid_data, load_best_model=False, show_progress=show_progress, eval_mode="full_sort")
        return result[self.valid_metric], result

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False, eval_mode=None):
        mode = eval_mode or self.config["eval_mode"]
        with precision(self.config, self.device):
            if mode == "full_sort" or not eval_data:
                return super().evaluate(eval_data, load_best_model, model_file, show_progress)
            if load_best_model:
                self._load_model_checkpoint(model_file or self.saved_model_file)
            self.model.eval()
            return beam_metrics(self.model, eval_data, self.config, constrained=mode == "beam_constrained",
                                show_progress=show_progress)
