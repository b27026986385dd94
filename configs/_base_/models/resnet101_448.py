# ResNet-101 at 448 px with a linear multi-label head: the linear-head twin
# of the *_resnet101-mldecoder_* configs (Table 6's head), for comparison.
_base_ = ['./resnet50_448.py']
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet101_8xb32_in1k_20210831-539c63f8.pth')),
    neck=dict(_delete_=True, type='GlobalAveragePooling'),
    head=dict(
        _delete_=True,
        type='MultiLabelLinearClsHead',
        num_classes=80,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
