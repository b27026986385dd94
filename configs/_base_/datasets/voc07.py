# Pascal VOC 2007 (20 classes), BalanceMix protocol: 448x448, RandAugment.
# train: trainval (5,011 images), test: test (4,952 images).
# Layout: docs/data_preparation.md.
dataset_type = 'VOC'
data_root = 'data/VOC2007'
data_preprocessor = dict(
    num_classes=20,
    # RGB format normalization parameters
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # convert image from BGR to RGB
    to_rgb=True,
    # one-hot (multi-hot) labels for multi-label classification
    to_onehot=True,
)
bgr_mean = data_preprocessor['mean'][::-1]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # Square resize as in ASL / ML-Decoder: no crop drops a labelled object.
    dict(type='Resize', scale=(448, 448)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        hparams=dict(pad_val=[round(x) for x in bgr_mean])),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448)),
    dict(
        type='PackInputs',
        # `gt_label_difficult` is kept for VOC-style evaluation
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction',
                   'gt_label_difficult')),
]

# BalanceMix: batch 32 on two GPUs, i.e. 16 per GPU.
# The training set sits in a LabelNoiseDataset (clean here), so that a noise
# setting is one line: train_dataloader = dict(dataset=dict(
#     noise_type='mislabel', noise_rate=0.4)) (Eq. 11; see LabelNoiseDataset).
train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type='LabelNoiseDataset',
        noise_type='clean',
        noise_rate=0.0,
        seed=0,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='trainval',
            pipeline=train_pipeline)),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# mAP over all classes and the many / medium / few-shot groups
# (> 10,000 / 1,000-10,000 / < 1,000 positive training labels). VOC has no
# annotation JSON to count from, so the train counts are given: images per
# class of VOC2007 trainval (devkit statistics). With these thresholds only
# `person` is medium-shot and the 19 others are few-shot, as in Table 3.
val_evaluator = dict(
    type='ShotGroupAveragePrecision',
    shot_thresholds=(10000, 1000),
    class_counts=[
        238, 243, 330, 181, 244, 186, 713, 337, 445, 141, 200, 421, 287, 245,
        2008, 245, 96, 229, 261, 256
    ])

test_dataloader = val_dataloader
test_evaluator = val_evaluator
