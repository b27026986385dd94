# LL-R (Kim et al., CVPR 2022, large loss rejection) on the digits mosaic:
# the largest-loss fraction delta(t) = (t - 1) * delta_rel of the batch's
# negative labels is rejected.
# delta_rel 1% per epoch: the mosaic's 10 classes have far more hidden
# positives among the negatives than COCO's 80 (about 18% vs 2.4% with a
# single positive), over 12 epochs.
# RandAugment and Mixup as for every compared method (BalanceMix, Appendix D).
_base_ = ['./mixup_resnet-small_mosaic-digits.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='LargeLossRejectionLoss',
            mode='reject',
            delta_rel=0.01,
            start_epoch=1)))
