from .data_preprocessor import BalanceMixDataPreprocessor
from .gmm import fit_gmm_1d, gmm_posterior
from .minority_mixup import MinorityMixup

__all__ = [
    'BalanceMixDataPreprocessor', 'MinorityMixup', 'fit_gmm_1d',
    'gmm_posterior'
]
