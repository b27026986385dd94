# ASL (Ben-Baruch et al., ICCV 2021) on COCO 2014, with the ASL paper's
# gamma_pos=0, gamma_neg=4, clip=0.05.
# RandAugment and Mixup as for every compared method (BalanceMix, Appendix D).
_base_ = ['./mixup_r50_448_coco2014.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05)))
