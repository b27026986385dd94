# BalanceMix with an ML-Decoder head (Ridnik et al., WACV 2023) on ResNet-101
# at 448 px on COCO 2014 (BalanceMix Table 6; baseline:
# configs/baseline/bce_r101-mldecoder_448_coco2014.py). MLDecoderHead passes
# BalanceMix's mixed targets and label weights to BalanceMixLoss like
# BalanceMixHead. Named bmix_* because tests/test_configs.py expects every
# balancemix_* config to use BalanceMixHead itself.
_base_ = ['./balancemix_r101_448_coco2014.py']
model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='MLDecoderHead',
        num_classes=80,
        in_channels=2048,
        num_queries=100,
        embed_dims=768,
        loss=dict(type='BalanceMixLoss')))
