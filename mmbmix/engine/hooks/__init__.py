from .label_manager_hook import LabelManagerHook

__all__ = ['LabelManagerHook']
