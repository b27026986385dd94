# ResNet-50 with the ML-Decoder head at 448 px (paper, Appendix D).
# ImageNet-1K weights are loaded from OpenMMLab's checkpoint (downloaded on
# first use); set `model.backbone.init_cfg=None` to train from scratch.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    # Appendix D: "a Transformer-based decoder ... for the classification
    # head", the same for every compared method: ML-Decoder (Ridnik et al.,
    # WACV 2023), the one of the three cited decoders whose settings Table 6
    # follows exactly; it decodes the feature map, so no neck. min(100, K)
    # fixed queries of width 768 (docs/configs.md).
    neck=None,
    head=dict(
        type='MLDecoderHead',
        num_classes=80,
        in_channels=2048,
        num_queries=100,
        embed_dims=768,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
