# BalanceMix, split rule + alpha 1: its balancemix twin with the two values
# of configs/_base_/methods/balancemix_split.py, the given positives clean.
_base_ = [
    '../balancemix/balancemix_resnet50_1xb32_deepfashion-448px_single-positive.py',  # noqa: E501
    '../_base_/methods/balancemix_split.py'
]
data_preprocessor = {{_base_.balancemix_split_data_preprocessor}}
default_hooks = {{_base_.balancemix_split_single_positive_hooks}}
