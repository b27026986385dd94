"""Data preprocessor that refines labels and mixes the dual batch.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS

from mmbmix.utils import split_dual_batch, split_views


@MODELS.register_module()
class BalanceMixDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that mixes a random and a minority half.

    In training, the batch (random half, then minority half, from
    :class:`~mmbmix.datasets.DualBatchSampler`) is normalised as usual
    (the first view of a multi-view batch), and the halves are mixed by
    :class:`MinorityMixup` (Eq. 5). Each sample's training target and label
    weights ride in the sample: ``gt_score`` (the labels after Eq. 9; the
    given labels, one-hot, where absent) and ``label_weight`` (Eq. 10; 1
    where absent), put there by
    :class:`~mmbmix.engine.hooks.LabelManagerHook` before the step. Each
    mixed sample carries the mixed ``gt_score`` and the ``label_weight`` of
    its random instance (the paper). Outside training it is a plain
    ``ClsDataPreprocessor``.

    Args:
        num_classes (int): number of classes K.
        mix (dict): config of the batch mixer (``MODELS`` registry).
            Defaults to ``dict(type='MinorityMixup', alpha=4.0)``.
        label_weighting (str): ``'random'``: a mixed label weighs its
            random instance's weight (the paper); ``'per_half'``: each half
            weighs its own (the mixup criterion ``lam w_R BCE(f, y_R) +
            (1 - lam) w_M BCE(f, y_M)``, written as one BCE with weight
            ``lam w_R + (1 - lam) w_M`` and the matching target; a variant).
            Defaults to ``'random'``.
        **kwargs: the arguments of ``ClsDataPreprocessor`` (``mean``,
            ``std``, ``to_rgb``, ...). ``batch_augments`` is not accepted:
            the mixing is this class's job.
    """

    def __init__(self,
                 num_classes: int,
                 mix: dict = dict(type='MinorityMixup', alpha=4.0),
                 label_weighting: str = 'random',
                 **kwargs) -> None:
        if label_weighting not in ('random', 'per_half'):
            raise ValueError('BalanceMixDataPreprocessor: label_weighting '
                             "must be 'random' or 'per_half', got "
                             f'{label_weighting!r}')
        weighting = label_weighting  # set after Module.__init__
        if kwargs.get('batch_augments') is not None:
            raise ValueError(
                'BalanceMixDataPreprocessor: batch_augments must be None; '
                'configure the mixing with `mix=dict(type=...)`')
        kwargs['to_onehot'] = True
        super().__init__(num_classes=num_classes, **kwargs)
        self.mixer = MODELS.build(mix)
        self.label_weighting = weighting

    def forward(self, data: dict, training: bool = False) -> dict:
        if training:
            # the view trained on (the first of a multi-view batch)
            data = dict(data, inputs=split_views(data['inputs'])[0])
        data = super().forward(data, training=False)
        if not training:
            return data
        samples = data['data_samples']
        targets = torch.stack([s.gt_score for s in samples]).float()
        weights = None
        if 'label_weight' in samples[0]:
            weights = torch.stack([s.label_weight
                                   for s in samples]).to(targets)
        inputs, mixed, lam = self.mixer(data['inputs'], targets)
        if weights is not None and self.label_weighting == 'per_half':
            (y_r, y_m), (w_r, w_m) = map(split_dual_batch, (targets, weights))
            a, b = lam.view(-1, 1) * w_r, (1 - lam.view(-1, 1)) * w_m
            weights = a + b
            mixed = torch.where(weights > 0,
                                (a * y_r + b * y_m) / weights.clamp_min(1e-12),
                                mixed)
        elif weights is not None:
            # a mixed instance's label weights are its random instance's
            weights = split_dual_batch(weights)[0]
        targets = mixed
        # One DataSample per mixed instance.
        samples, _ = split_dual_batch(samples)
        if weights is None:
            weights = torch.ones_like(targets)
        for sample, target, weight in zip(samples, targets, weights):
            sample.set_gt_score(target)
            sample.set_field(weight, 'label_weight')
        return dict(inputs=inputs, data_samples=samples)
