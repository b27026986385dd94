"""Offline use of a trained BalanceMix run: its label state, re-fitted or
read back, and the label issues it finds (BalanceMix, Song et al., AAAI
2024, Eq. 6-10)."""
from .label_issues import cleaned_labels, detection_scores, rank_label_issues
from .label_state import (STATE_KEY, LabelStateError, build_train_set,
                          load_label_state, load_labels, load_model,
                          manager_from_config, predict_train_set,
                          refit_label_state, saved_per_batch, test_pipeline_of)

__all__ = [
    'STATE_KEY', 'LabelStateError', 'build_train_set', 'load_label_state',
    'load_labels', 'load_model', 'manager_from_config', 'predict_train_set',
    'refit_label_state', 'rank_label_issues', 'cleaned_labels',
    'detection_scores', 'saved_per_batch', 'test_pipeline_of'
]
