"""Helpers shared by the experiment commands."""


def parse_set(values, label=None):
    """``key=value`` for every cell, or ``Label:key=value`` for the cells of one model label only."""
    import yaml

    out = {}
    for item in values or []:
        key, _, value = item.partition("=")
        scope, _, key = key.rpartition(":")
        if not scope or scope == label:
            out[key] = yaml.safe_load(value)
    return out
