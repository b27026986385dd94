# Fine-tuning an ImageNet-pretrained backbone on a mosaic (the paper's
# regime: SGD momentum 0.9, weight decay 1e-4, cosine annealing), on CPU.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=6, by_epoch=True, begin=0, end=6)
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
