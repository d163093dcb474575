"""Trainers of the plugin's models."""

PLUGIN_TRAINERS = {}
