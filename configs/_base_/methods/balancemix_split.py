# BalanceMix with the split rule and Beta(1, 1) mixing: the two values a
# balancemix-split config changes in its balancemix twin (README, "Which
# label rule to use"; benchmarks/results/label_variants.md, "Decision"):
# - the per-class fits (Eq. 6-7) split a label set into clean and noisy only
#   where the noisy component predicts against its labels (mean loss above
#   log 2); other sets count as clean;
# - the mixing ratio (Eq. 5) drawn from Beta(1, 1) instead of Beta(4, 4)
#   (the paper's Appendix E measures both).
#     _base_ = ['../balancemix/balancemix_<model>_<dataset>.py',
#               '../_base_/methods/balancemix_split.py']
#     data_preprocessor = {{_base_.balancemix_split_data_preprocessor}}
#     default_hooks = {{_base_.balancemix_split_hooks}}
# With single positive labels every given positive is correct by
# construction, so its configs take them as clean
# (``balancemix_split_single_positive_hooks``): the split rule alone turns
# correct positives the model doubts into negatives (label_variants.md,
# "Single positive").
balancemix_split_data_preprocessor = dict(mix=dict(alpha=1.0))
balancemix_split_hooks = dict(label_manager=dict(gmm=dict(split='disagree')))
balancemix_split_single_positive_hooks = dict(
    label_manager=dict(
        balancemix_split_hooks['label_manager'], clean_positives=True))
