# Co-teaching (Han et al., NeurIPS 2018) with Mixup, as the BalanceMix paper
# ran it (Appendix D): instance level, the instances a two-component GMM on
# the peer's losses calls clean.
_base_ = [
    '../mixup/mixup_resnet50_1xb32_deepfashion-448px.py',
    '../_base_/methods/coteaching.py'
]
model = {{_base_.coteaching_model_paper}}
