"""Checkpoint loading for RecBole trainers under torch >= 2.6 (``weights_only`` defaults to True there).

RecBole's ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` call ``torch.load`` without
``weights_only``, which fails on RecBole checkpoints because they pickle the ``Config``. The mixin loads the file
itself (through :func:`recbole_ilm.compat.load_checkpoint`) and then hands over to RecBole with loading switched off.
"""

from recbole.utils import set_color

from recbole_ilm.compat import load_checkpoint


class CheckpointCompatMixin:
    """Put in front of any RecBole ``Trainer`` subclass."""

    def _load_model_checkpoint(self, checkpoint_file):
        checkpoint = load_checkpoint(checkpoint_file, map_location=self.device)
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
