# A narrow CIFAR-style ResNet-18 (16 base channels) for the mosaic benchmarks:
# trains from scratch on 2 CPU cores in minutes.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        stem_channels=16,
        base_channels=16,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
