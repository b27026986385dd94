# Mixup + BCE, digits flip 40%, no RandAugment, 12 epochs.
_base_ = ['../../configs/baseline/mixup_resnet-small_mosaic-digits_flip40.py', '../../configs/_base_/schedules/mosaic_digits_demo.py']
train_dataloader = dict(dataset=dict(dataset=dict(pipeline={{_base_.demo_train_pipeline}})))
