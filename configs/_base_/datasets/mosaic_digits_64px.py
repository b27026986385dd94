# Mosaic digits at 64 px for ImageNet-pretrained backbones (the paper's
# regime): 64x64 RGB canvases of 2x2 cells holding 1-4 real 8x8 scikit-learn
# digits upscaled to 32x32; 10 classes; train 2,000
# images with class-imbalance ratio 50; test 500 balanced images from
# disjoint source digits. Generated under data_root on first use (about a
# second) and reused afterwards.
dataset_type = 'MosaicMultiLabel'
data_root = 'data/mosaic_digits_64px'
source = 'digits'
mosaic = dict(source=source, grid=2, tile_size=32, max_tiles=4, seed=0)
data_preprocessor = dict(
    num_classes=10,
    # ImageNet EfficientNet-Lite weights expect RGB in [-1, 1]
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    to_rgb=True,
    to_onehot=True,
)

# No RandAugment (on small grey tiles it cost plain BCE 19 mAP,
# benchmarks/results/demo_regime.md) and no flip (a mirrored digit is not the
# same digit): a mild random crop keeps the two views of Eq. 9 independent
# augmentations.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.85, 1.0),
        aspect_ratio_range=(0.9, 1.1)),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_images=2000,
        imbalance_ratio=50,
        pipeline=train_pipeline,
        **mosaic),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        num_images=500,
        test_imbalance_ratio=1,
        test_mode=True,
        pipeline=test_pipeline,
        **mosaic),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# Positives per class of the train split, exact and deterministic:
# MosaicMultiLabel.train_class_counts(num_images=2000, imbalance_ratio=50).
# Thresholds (500, 100) give 3 many-shot, 4 medium-shot and 3 few-shot
# classes. Update both if the train split's arguments change.
val_evaluator = dict(
    type='ShotGroupAveragePrecision',
    shot_thresholds=(500, 100),
    class_counts=[1786, 1156, 749, 485, 314, 203, 132, 85, 55, 36])

test_dataloader = val_dataloader
test_evaluator = val_evaluator
