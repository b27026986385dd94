# BalanceMix with an ML-Decoder head (Ridnik et al., WACV 2023) on TResNet-L
# (timm 'tresnet_l', ImageNet-1k weights) at 640 px on COCO 2014 (BalanceMix
# Table 6; baseline: configs/baseline/bce_tresnet-l-mldecoder_640_coco2014.py).
# Named bmix_* because tests/test_configs.py expects every balancemix_*
# config to use BalanceMixHead itself.
_base_ = ['./balancemix_tresnet-l_640_coco2014.py']
model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='MLDecoderHead',
        num_classes=80,
        in_channels=2432,
        num_queries=100,
        embed_dims=768,
        loss=dict(type='BalanceMixLoss')))
