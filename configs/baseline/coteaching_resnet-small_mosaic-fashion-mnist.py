# Co-teaching (Han et al., NeurIPS 2018), instance-level, on the fashion-
# mnist mosaic.
# forget_rate = the noise rate (0 on clean labels: two independent BCE
# networks); prediction from network 1.
# RandAugment and Mixup as for every compared method (BalanceMix, Appendix D).
_base_ = ['./mixup_resnet-small_mosaic-fashion-mnist.py']
model = dict(
    type='CoTeachingClassifier',
    forget_rate=0.0,
    num_gradual=5,
    predict_with='net1')
