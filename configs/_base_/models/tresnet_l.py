# TResNet-L through timm (mmpretrain's TIMMBackbone; `pip install timm`).
# pretrained=True asks timm for its ImageNet weights on first use.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TIMMBackbone',
        model_name='tresnet_l',
        pretrained=True,
        features_only=False,
        num_classes=0,
        global_pool=''),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=80,
        in_channels=2432,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
