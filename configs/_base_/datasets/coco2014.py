# MS-COCO 2014 (80 classes), BalanceMix protocol: 448x448, RandAugment.
# train: train2014 images with an annotation (82,081), val: val2014 (40,137).
# Layout: docs/data_preparation.md.
dataset_type = 'COCOMultiLabel'
data_root = 'data/coco'
data_preprocessor = dict(
    num_classes=80,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True,
)
bgr_mean = data_preprocessor['mean'][::-1]

train_pipeline = [
    dict(type='LoadImageFromFile'),
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
    dict(type='PackInputs'),
]

# BalanceMix: batch 64 on two GPUs, i.e. 32 per GPU.
# The training set sits in a LabelNoiseDataset (clean here), so that a noise
# setting is one line: train_dataloader = dict(dataset=dict(
#     noise_type='mislabel', noise_rate=0.4)) (Eq. 11; see LabelNoiseDataset).
train_dataloader = dict(
    batch_size=32,
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
            ann_file='annotations/instances_train2014.json',
            data_prefix='train2014/',
            pipeline=train_pipeline)),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2014.json',
        data_prefix='val2014/',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# mAP over all classes and the many / medium / few-shot groups
# (> 10,000 / 1,000-10,000 / < 1,000 positive training labels), the train
# counts read from the MultiLabelDataset JSON that
# tools/dataset_converters/coco_to_json.py writes (docs/data_preparation.md).
val_evaluator = dict(
    type='ShotGroupAveragePrecision',
    shot_thresholds=(10000, 1000),
    train_ann_file=data_root + '/annotations/multilabel_train2014.json')

test_dataloader = val_dataloader
test_evaluator = val_evaluator
