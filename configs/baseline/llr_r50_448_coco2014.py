# LL-R (Kim et al., CVPR 2022, large loss rejection) on COCO 2014:
# the largest-loss fraction delta(t) = (t - 1) * delta_rel of the batch's
# negative labels is rejected.
# delta_rel: Kim et al.'s 0.2% per epoch for COCO.
# RandAugment and Mixup as for every compared method (BalanceMix, Appendix D).
_base_ = ['./mixup_r50_448_coco2014.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='LargeLossRejectionLoss',
            mode='reject',
            delta_rel=0.002,
            start_epoch=1)))
