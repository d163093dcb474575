"""Trainers of the plugin's models."""

from recbole_ilm.trainer.ilm_trainer import ILMTrainer

PLUGIN_TRAINERS = {"ILM": ILMTrainer, "MLPAdapter": ILMTrainer, "BackboneOnly": ILMTrainer}
