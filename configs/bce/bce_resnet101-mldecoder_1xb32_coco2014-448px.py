# BCE with an ML-Decoder head (Ridnik et al., WACV 2023): the baseline of the
# BalanceMix Table 6 pair.
_base_ = [
    './bce_resnet101_1xb32_coco2014-448px.py',
    '../_base_/models/ml_decoder_heads.py'
]
model = dict(neck=None, head={{_base_.ml_decoder_head_r101}})
