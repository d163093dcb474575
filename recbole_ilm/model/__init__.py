"""RecBole model classes added by the plugin (looked up by name through :func:`recbole_ilm.utils.get_model`)."""

from recbole_ilm.model.backbone_only import BackboneOnly
from recbole_ilm.model.ilm import ILM
from recbole_ilm.model.mlp_adapter import MLPAdapter

PLUGIN_MODELS = {"ILM": ILM, "MLPAdapter": MLPAdapter, "BackboneOnly": BackboneOnly}
