"""Resume points: everything needed to continue a killed run exactly where its last epoch ended.

A resume file (``<run>.resume.pth``, rewritten atomically after every validated epoch of phases 0 and 2 and
every phase-1 epoch) holds the model, the phase and epoch, the phase's optimizer / scheduler / early-stopping
state, the phase-1 alternation position, and every random state that decides what happens next (torch, numpy,
python, the train dataloader's shuffling generator and its template sampler). Only tensors and plain data are
stored, so it loads with ``weights_only=True``.
"""

import json
import os
import random
import uuid

import numpy as np
import torch
from recbole.utils import get_local_time, set_color

from recbole_ilm.checkpoint_io import FORMAT, plain, plain_config, read_checkpoint, write_atomic
from recbole_ilm.data.prompt_cache import prompt_assets
from recbole_ilm.errors import ILMConfigError


def run_stamp():
    """``<time>-<hex>`` for a run's file names: two runs started in one second in one folder never share a file."""
    return f"{get_local_time()}-{uuid.uuid4().hex[:6]}"


def _numpy_state():
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(d):
    np.random.set_state((d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["gauss"]))


def _python_state():
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _set_python_state(d):
    random.setstate((d["version"], tuple(d["internal"]), d["gauss"]))


def capture_rng(train_data=None):
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": _python_state(),
    }
    if train_data is not None:
        state["loader"] = train_data.generator.get_state()
        if hasattr(train_data, "layout_rng"):
            state["layout"] = train_data.layout_rng.bit_generator.state  # a dict of ints and strings
    return state


def restore_rng(state, train_data=None):
    torch.set_rng_state(state["torch"])
    _set_numpy_state(state["numpy"])
    _set_python_state(state["python"])
    if train_data is not None and "loader" in state:
        train_data.generator.set_state(state["loader"])
        if "layout" in state and hasattr(train_data, "layout_rng"):
            train_data.layout_rng.bit_generator.state = state["layout"]


KILL_ENV = "RECBOLE_ILM_KILL_AFTER"


def kill_point(phase, epoch):
    """Fault injection for the resume tests: ``RECBOLE_ILM_KILL_AFTER=<phase>:<epoch>`` SIGKILLs this process right
    after that epoch's resume point is written (a real kill: no cleanup, no exception handlers)."""
    import signal

    if os.environ.get(KILL_ENV) == f"{phase}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


def phase_seed(seed, phase):
    """The seed of every random source during ``phase``: a function of (seed, phase) only."""
    return int(seed) + 1_000_003 * (int(phase) + 1)


def seed_phase(config, phase, train_data=None):
    """Reseed torch, numpy, python, the train loader's shuffle generator and its template sampler from
    (seed, phase), so a phase sees the same data and draws whatever ran before it (e.g. phase 0 trained here or
    loaded from the cache). Phase 0 uses the backbone's seed (``backbone_seed``, default ``seed``)."""
    from recbole.utils import init_seed

    from recbole_ilm.cache import backbone_seed

    seed = phase_seed(backbone_seed(config) if phase == 0 else config["seed"], phase)
    init_seed(seed + config["local_rank"], config["reproducibility"])
    if train_data is not None:
        train_data.generator.manual_seed(seed)
        if hasattr(train_data, "layout_rng"):
            train_data.layout_rng = np.random.default_rng(seed + config["local_rank"])
    return seed


class ResumePoints:
    """Checkpoints and resume points of :class:`~recbole_ilm.trainer.ILMTrainer` (tensors and plain data only)."""

    def _base_state(self):
        return {"format": FORMAT, "model": self.config["model"], "dataset": self.config["dataset"],
                "config": plain_config(self.config), "state_dict": self.model.state_dict(),
                "other_parameter": plain(self.model.other_parameter()), "phase": self.model.phase,
                "prompts": prompt_assets(self.model.prompts)}

    def _is_writer(self):
        return self.config["single_spec"] or self.config["local_rank"] == 0

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        """RecBole's checkpoint keys, with the config as plain options; written atomically."""
        if not self._is_writer():
            return
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        state = {**self._base_state(), "epoch": epoch, "cur_step": self.cur_step,
                 "best_valid_score": float(self.best_valid_score),
                 "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None}
        write_atomic(state, path)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {path}")

    def _write_resume(self, phase, epoch, extra):
        if not self._is_writer():
            return
        state = {**self._base_state(), "phase": phase, "epoch": epoch, "rng": capture_rng(self.train_data),
                 "saved_model_file": self.saved_model_file, "phase_results": plain(self.phase_results),
                 "throughput": plain(self.throughput), **extra}  # the cell's examples seen count earlier epochs too
        write_atomic(state, self.resume_file)
        with open(self.resume_file + ".json", "w") as f:  # for people (and tests) watching a run
            json.dump({"phase": phase, "epoch": epoch}, f)
        kill_point(phase, epoch)

    def _fit_state(self):
        return {"cur_step": self.cur_step, "best_valid_score": float(self.best_valid_score),
                "best_valid_result": plain(self.best_valid_result),
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                "scheduler": self.scheduler.state_dict() if getattr(self, "scheduler", None) is not None else None}

    def _restore_fit_state(self, resume, phase, train_data):
        """Continue RecBole's fit of ``phase`` after the resume point's epoch."""
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

    def _open_resume(self):
        """The resume point named by ``resume`` (model weights restored), or None for a fresh run."""
        path = self.config["resume"]
        if not path:
            name = f"{self.config['model']}-{self.config['dataset']}-{run_stamp()}.resume.pth"
            self.resume_file = self.config["resume_file"] or os.path.join(self.checkpoint_dir, name)
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
        self.throughput = {int(phase): list(epochs) for phase, epochs in (state.get("throughput") or {}).items()}
        self.logger.info(set_color("Resuming run", "pink") + f" from {path} (phase {state['phase']}, "
                                                              f"epoch {state['epoch']})")
        return state
