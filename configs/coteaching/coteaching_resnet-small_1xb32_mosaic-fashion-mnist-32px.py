# Co-teaching (Han et al., NeurIPS 2018) with Mixup; forget_rate = the noise
# rate (0 on clean labels).
_base_ = [
    '../mixup/mixup_resnet-small_1xb32_mosaic-fashion-mnist-32px.py',
    '../_base_/methods/coteaching.py'
]
model = {{_base_.coteaching_model_short}}
