"""RecBole model classes added by the plugin."""

PLUGIN_MODELS = {}
