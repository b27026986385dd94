# SGD momentum 0.9, weight decay 1e-4, lr 0.01, cosine annealing,
# 20 epochs, batch 32 (paper, Appendix D: two GPUs, 16 per GPU).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
