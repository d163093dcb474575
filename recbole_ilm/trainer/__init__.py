"""Trainers of the plugin's models: ``<Model>Trainer`` by convention, else the trainer of the model's base class
(:class:`ILMTrainer` for every frozen-LLM model)."""

from recbole_ilm.trainer.ilm_trainer import ILMTrainer

__all__ = ["ILMTrainer"]
