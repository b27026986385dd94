"""Finding hooks in an mmengine config, wherever the config registers them.

The configs of BalanceMix (Song et al., AAAI 2024) register their hooks through
``default_hooks`` (a dict, so one line changes one argument: ``default_hooks =
dict(label_manager=dict(warmup_epochs=5))``); users may put them in
``custom_hooks`` (a list) instead. Tools look in both.
"""
from typing import List


def hook_cfgs(cfg, hook_type: str) -> List[dict]:
    """The config dicts (the config's own objects, so that changing them
    changes the config) of every hook of type ``hook_type`` in
    ``cfg.default_hooks`` and ``cfg.custom_hooks``."""
    found = [
        h for h in (cfg.get('default_hooks') or {}).values()
        if isinstance(h, dict) and h.get('type') == hook_type
    ]
    found += [
        h for h in cfg.get('custom_hooks') or []
        if isinstance(h, dict) and h.get('type') == hook_type
    ]
    return found
