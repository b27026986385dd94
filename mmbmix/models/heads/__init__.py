from .balancemix_head import BalanceMixHead

__all__ = ['BalanceMixHead']
from .ml_decoder_head import GroupFC, MLDecoderHead  # noqa: E402

__all__ += ['GroupFC', 'MLDecoderHead']
