"""RecBole trainers that read checkpoints safely (:func:`recbole_ilm.checkpoint_io.read_checkpoint`).

RecBole's ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` call ``torch.load`` without
``weights_only`` (fails under torch >= 2.6 on RecBole checkpoints); :class:`CheckpointCompatMixin` loads the file
itself and then hands over to RecBole with loading switched off.
"""

from recbole.utils import set_color

from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.errors import ILMConfigError

def check_prompt_assets(checkpoint, model, path):
    """A plugin checkpoint only fits a model that reads the same id indexes and tokenizer."""
    stored = checkpoint.get("prompts")
    if stored is None or not hasattr(model, "prompts"):
        return
    from recbole_ilm.data.prompt_cache import prompt_assets

    if prompt_assets(model.prompts) != stored:
        raise ILMConfigError(
            f"checkpoint '{path}' was trained with other item/user ids or another tokenizer than this run's cache "
            f"holds; load it with load_data_and_model / python -m recbole_ilm.evaluate (which use the "
            f"checkpoint's own), or clear the prompts cache of this config")


class CheckpointCompatMixin:
    """Put in front of any RecBole ``Trainer`` subclass."""

    def _load_model_checkpoint(self, checkpoint_file, fresh=()):
        """Load a checkpoint into the model; parameters whose names start with one of ``fresh`` may be absent from
        it and then keep their new initial values (e.g. an item head added on top of a phase-1 checkpoint)."""
        checkpoint = read_checkpoint(checkpoint_file, map_location=self.device)
        check_prompt_assets(checkpoint, self.model, checkpoint_file)
        state = dict(checkpoint["state_dict"])
        kept = [k for k in self.model.state_dict() if k.startswith(tuple(fresh)) and k not in state]
        if kept:
            state.update({k: self.model.state_dict()[k] for k in kept})
            self.logger.info(f"Not in {checkpoint_file}, starting fresh: {', '.join(kept)}")
        self.model.load_state_dict(state)
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
