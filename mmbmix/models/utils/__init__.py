from .data_preprocessor import BalanceMixDataPreprocessor
from .gmm import fit_gmm_1d, fit_gmm_binned, gmm_posterior
from .label_manager import LabelManager, LabelState
from .label_refinery import (GMM_DEFAULTS, batch_clean_prob, clean_prob,
                             decide_labels, gmm_options, label_bce,
                             label_diagnostics, label_groups, label_states,
                             label_weights, relabel)
from .loss_histogram import LossHistogram
from .loss_table import LossTable
from .minority_mixup import MinorityMixup
from .minority_score import (class_confidence, class_confidence_from_sums,
                             instance_score, sampling_probs)

__all__ = [
    'BalanceMixDataPreprocessor', 'MinorityMixup', 'LabelManager',
    'LabelState', 'batch_clean_prob', 'LossTable', 'GMM_DEFAULTS',
    'gmm_options', 'decide_labels', 'fit_gmm_1d', 'fit_gmm_binned',
    'LossHistogram', 'gmm_posterior', 'clean_prob', 'label_bce',
    'label_groups', 'label_diagnostics', 'label_states', 'label_weights',
    'relabel', 'class_confidence', 'class_confidence_from_sums',
    'instance_score', 'sampling_probs'
]
