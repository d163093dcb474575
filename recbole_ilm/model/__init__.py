"""RecBole models added by the plugin, one per file: ``<name lowercased>.py`` holds the class ``<Name>``, found by
:func:`recbole_ilm.lookup.get_model`. The frozen-LLM models share :mod:`recbole_ilm.model.base`."""
