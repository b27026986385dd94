# ML-Decoder heads (Ridnik et al., WACV 2023) for the BalanceMix Table 6
# pairs: the head decodes the backbone's feature map (no neck) with
# min(100, 80) = 80 fixed queries of width 768, one class each.
#     model = dict(neck=None, head={{_base_.ml_decoder_head_r101}})
ml_decoder_head_r101 = dict(
    _delete_=True,
    type='MLDecoderHead',
    num_classes=80,
    in_channels=2048,
    num_queries=100,
    embed_dims=768,
    loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
ml_decoder_head_tresnet_l = dict(ml_decoder_head_r101, in_channels=2432)
# with BalanceMix, MLDecoderHead hands the mixed targets and label weights to
# BalanceMixLoss as BalanceMixHead does
ml_decoder_head_r101_balancemix = dict(
    ml_decoder_head_r101, loss=dict(type='BalanceMixLoss'))
ml_decoder_head_tresnet_l_balancemix = dict(
    ml_decoder_head_tresnet_l, loss=dict(type='BalanceMixLoss'))
