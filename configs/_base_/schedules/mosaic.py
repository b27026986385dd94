# Mosaic benchmarks, from scratch on CPU: SGD 0.9, wd 1e-4, cosine, with a
# larger lr than the paper's fine-tuning value since nothing is pre-trained.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=12, by_epoch=True, begin=0, end=12)
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=12)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
