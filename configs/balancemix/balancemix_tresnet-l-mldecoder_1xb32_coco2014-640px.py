# BalanceMix (Song et al., AAAI 2024): differs from its BCE twin only in the
# method (configs/_base_/methods/balancemix.py).
_base_ = [
    './balancemix_tresnet-l_1xb32_coco2014-640px.py',
    '../_base_/models/ml_decoder_heads.py'
]
model = dict(neck=None, head={{_base_.ml_decoder_head_tresnet_l_balancemix}})
