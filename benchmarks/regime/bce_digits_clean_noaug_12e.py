# Plain BCE, clean digits mosaic, no RandAugment, 12 epochs.
_base_ = ['../../configs/baseline/bce_resnet-small_mosaic-digits.py', '../../configs/_base_/schedules/mosaic_digits_demo.py']
train_dataloader = dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}}))
