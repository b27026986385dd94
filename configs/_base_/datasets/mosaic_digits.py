# Mosaic digits: a download-free, long-tailed multi-label benchmark
# (mmbmix.datasets.MosaicMultiLabel). 32x32 RGB canvases of 2x2 cells holding
# 1-4 real 8x8 scikit-learn digits upscaled to 16x16; 10 classes; train 2,000
# images with class-imbalance ratio 50; test 500 balanced images from
# disjoint source digits. Generated under data_root on first use (about a
# second) and reused afterwards.
dataset_type = 'MosaicMultiLabel'
data_root = 'data/mosaic_digits'
source = 'digits'
mosaic = dict(source=source, grid=2, tile_size=16, max_tiles=4, seed=0)
data_preprocessor = dict(
    num_classes=10,
    # pixel statistics of the grey mosaics (black background)
    mean=[48., 48., 48.],
    std=[75., 75., 75.],
    to_rgb=True,
    to_onehot=True,
)

# RandAugment 'timm_increasing' with Translate limited to 10% of the side:
# at timm's 45% a shift of a 32x32 canvas pushes whole tiles, i.e. labels,
# out of the image. The other 13 operations are timm's.
mosaic_policies = [
    dict(type='AutoContrast'),
    dict(type='Equalize'),
    dict(type='Invert'),
    dict(type='Rotate', magnitude_range=(0, 30)),
    dict(type='Posterize', magnitude_range=(4, 0)),
    dict(type='Solarize', magnitude_range=(256, 0)),
    dict(type='SolarizeAdd', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_range=(0, 0.9)),
    dict(type='Contrast', magnitude_range=(0, 0.9)),
    dict(type='Brightness', magnitude_range=(0, 0.9)),
    dict(type='Sharpness', magnitude_range=(0, 0.9)),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_range=(0, 0.1), direction='horizontal'),
    dict(type='Translate', magnitude_range=(0, 0.1), direction='vertical'),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    # No horizontal flip: a mirrored digit is not the same digit.
    dict(
        type='RandAugment',
        policies=mosaic_policies,
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        hparams=dict(pad_val=0)),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]

# The training set sits in a LabelNoiseDataset (clean here), so that a noise
# setting is one line: train_dataloader = dict(dataset=dict(
#     noise_type='mislabel', noise_rate=0.4)) (Eq. 11; see LabelNoiseDataset).
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    # explicit: mmpretrain's own tools/train.py turns it on otherwise, and
    # torch refuses it where a CPU user sets num_workers=0
    persistent_workers=False,
    dataset=dict(
        type='LabelNoiseDataset',
        noise_type='clean',
        noise_rate=0.0,
        seed=0,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            num_images=2000,
            imbalance_ratio=50,
            pipeline=train_pipeline,
            **mosaic)),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    # explicit: mmpretrain's own tools/train.py turns it on otherwise, and
    # torch refuses it where a CPU user sets num_workers=0
    persistent_workers=False,
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
