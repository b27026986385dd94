"""What BalanceMix is compared with and trained on, apart from the method's
core (``mmbmix.models``, ``mmbmix.engine``, ``mmbmix.datasets``): the
baselines of the paper's tables (Co-teaching, LL-R / LL-Ct, the T-estimator)
and the pieces every compared method shares there (the ML-Decoder head of
Appendix D, the offline ImageNet EfficientNet-Lite weights). Each is
registered in mmpretrain's registries when ``mmbmix`` is imported.
"""
from .co_teaching import CoTeachingClassifier, co_teaching_select, gmm_select
from .efficientnet_lite import (convert_efficientnet_lite,
                                efficientnet_lite_file,
                                load_from_efficientnet_lite)
from .large_loss import LargeLossRejectionLoss, large_loss_mask
from .ml_decoder_head import GroupFC, MLDecoderHead
from .t_estimator_hook import TEstimatorHook
from .transition_estimator import (anchor_transition, cooccurrence_transition,
                                   estimate_transition)
from .transition_loss import TransitionReweightedLoss

__all__ = [
    'CoTeachingClassifier', 'co_teaching_select', 'gmm_select',
    'convert_efficientnet_lite', 'efficientnet_lite_file',
    'load_from_efficientnet_lite', 'LargeLossRejectionLoss', 'large_loss_mask',
    'GroupFC', 'MLDecoderHead', 'TEstimatorHook', 'anchor_transition',
    'cooccurrence_transition', 'estimate_transition',
    'TransitionReweightedLoss'
]
