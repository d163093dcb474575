"""Checkpoint files: reading them safely, and RecBole trainers under torch >= 2.6.

The plugin's own checkpoints hold only tensors and plain data (the config as the dict of options the user gave,
plus model and dataset names), so they load with ``torch.load(weights_only=True)``. RecBole's own checkpoints
(e.g. SASRec trained through this plugin's CLI, or a BPR used for CF embeddings) pickle RecBole's ``Config``; they
are loaded with ``weights_only=False``, as RecBole itself does, and only from files you point the plugin at.

RecBole's ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` call ``torch.load`` without
``weights_only`` (fails under torch >= 2.6 on RecBole checkpoints); :class:`CheckpointCompatMixin` loads the file
itself and then hands over to RecBole with loading switched off.
"""

import json
import os
import pickle
import sys

from recbole.utils import set_color

from recbole_ilm.compat import load_checkpoint
from recbole_ilm.errors import ILMConfigError

FORMAT = "recbole-ilm/1"


def plain(value):
    """``value`` as JSON-compatible data (numpy scalars -> Python numbers); raises TypeError otherwise."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


DISTRIBUTED_KEYS = ("local_rank", "world_size", "nproc", "ip", "port", "offset")


def plain_config(config):
    """The options a run was started with (files, dict, command line) — enough to rebuild its Config (without the
    process-group settings of a distributed run, so the checkpoint reloads in a single process)."""
    return plain({k: v for k, v in config.external_config_dict.items() if k not in DISTRIBUTED_KEYS})


def read_checkpoint(path, map_location="cpu"):
    """Load a plugin or RecBole checkpoint; clear :class:`ILMConfigError` for missing, corrupted or foreign files."""
    path = str(path)
    if not os.path.isfile(path):
        raise ILMConfigError(f"checkpoint '{path}' does not exist")
    try:
        checkpoint = load_checkpoint(path, map_location=map_location, trusted=False)
    except pickle.UnpicklingError:
        # weights_only refused a pickled object: a RecBole-format checkpoint (its Config is pickled)
        try:
            checkpoint = load_checkpoint(path, map_location=map_location, trusted=True)
        except Exception as e:  # noqa: BLE001
            raise ILMConfigError(f"checkpoint '{path}' cannot be read ({type(e).__name__}: {e})") from None
    except Exception as e:  # noqa: BLE001 - truncated zip, not a torch file, ...
        raise ILMConfigError(f"checkpoint '{path}' is corrupted or not a PyTorch checkpoint "
                             f"({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        keys = list(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ILMConfigError(f"checkpoint '{path}' is not a RecBole / recbole-ilm model checkpoint (found {keys})")
    return checkpoint


def config_from_checkpoint(checkpoint):
    """The run's Config: rebuilt from plain options (plugin format) or RecBole's pickled Config."""
    if checkpoint.get("format") != FORMAT:
        return checkpoint["config"]
    from recbole_ilm.config import Config

    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config also reads --key=value from the command line
    try:
        return Config(model=checkpoint["model"], dataset=checkpoint["dataset"], config_dict=checkpoint["config"])
    finally:
        sys.argv = argv


class CheckpointCompatMixin:
    """Put in front of any RecBole ``Trainer`` subclass."""

    def _load_model_checkpoint(self, checkpoint_file):
        checkpoint = read_checkpoint(checkpoint_file, map_location=self.device)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.logger.info(set_color("Loading model structure and parameters from", "blue") + f" {checkpoint_file}")
        return checkpoint

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if eval_data and load_best_model:
            self._load_model_checkpoint(model_file or self.saved_model_file)
        return super().evaluate(eval_data, load_best_model=False, model_file=None, show_progress=show_progress)

    def resume_checkpoint(self, resume_file):
        resume_file = str(resume_file)
        self.saved_model_file = resume_file
        checkpoint = self._load_model_checkpoint(resume_file)
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")


def with_checkpoint_compat(trainer_class):
    """``trainer_class`` with :class:`CheckpointCompatMixin` in front (cached, so the class identity is stable)."""
    if issubclass(trainer_class, CheckpointCompatMixin):
        return trainer_class
    if trainer_class not in _WRAPPED:
        _WRAPPED[trainer_class] = type(trainer_class.__name__, (CheckpointCompatMixin, trainer_class), {})
    return _WRAPPED[trainer_class]


_WRAPPED = {}
