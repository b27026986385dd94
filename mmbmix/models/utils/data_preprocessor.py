"""Data preprocessor that refines labels and mixes the dual batch.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
from typing import Optional

import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import BATCH_AUGMENTS, MODELS

from mmbmix.utils import split_dual_batch


@MODELS.register_module()
class BalanceMixDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that mixes a random and a minority half.

    In training, the batch (random half, then minority half, from
    :class:`~mmbmix.datasets.DualBatchSampler`) is normalised as usual, its
    labels are replaced by the refined labels of the label manager (labels
    are refined *before* mixing), and the halves are mixed by
    :class:`MinorityMixup` (Eq. 5). Each mixed sample carries ``gt_score``
    (the mixed target) and ``label_weight``: the per-label weight of Eq. 10
    of its random instance (1 for clean and re-labeled labels, ``p_G`` for
    ambiguous ones). Outside training it is a plain ``ClsDataPreprocessor``.

    The label state is set by :class:`~mmbmix.engine.hooks.LabelManagerHook`
    through :meth:`set_label_state`; until then (warm-up) the given labels
    are used with weight 1, i.e. plain BCE on the mixed batch.

    Args:
        num_classes (int): number of classes K.
        mix (dict): config of the batch mixer. Defaults to
            ``dict(type='MinorityMixup', alpha=4.0)``.
        **kwargs: the arguments of ``ClsDataPreprocessor`` (``mean``,
            ``std``, ``to_rgb``, ...). ``batch_augments`` is not accepted:
            the mixing is this class's job.
    """

    def __init__(self,
                 num_classes: int,
                 mix: dict = dict(type='MinorityMixup', alpha=4.0),
                 **kwargs) -> None:
        if kwargs.get('batch_augments') is not None:
            raise ValueError(
                'BalanceMixDataPreprocessor: batch_augments must be None; '
                'configure the mixing with `mix=dict(type=...)`')
        kwargs['to_onehot'] = True
        super().__init__(num_classes=num_classes, **kwargs)
        self.mixer = BATCH_AUGMENTS.build(mix)
        self.refined_labels: Optional[torch.Tensor] = None
        self.label_weights: Optional[torch.Tensor] = None
        self._batch_state: Optional[tuple] = None

    def set_label_state(self, targets: Optional[torch.Tensor],
                        weights: Optional[torch.Tensor]) -> None:
        """Install the label manager's ``(N, K)`` training targets and
        weights (``LabelManager.training_targets``); None for both returns
        to the given labels with weight 1."""
        self.refined_labels = targets
        self.label_weights = weights

    def set_batch_label_state(self, idx: torch.Tensor,
                              targets: Optional[torch.Tensor],
                              weights: Optional[torch.Tensor]) -> None:
        """Install the targets ``(2B, K)`` and the random half's weights
        ``(B, K)`` of the next training batch only, whose dataset indices
        are ``idx`` (``StreamingLabelManager.step``); None for both: the
        given labels with weight 1."""
        self._batch_state = None if targets is None else (idx, targets,
                                                          weights)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training=False)
        if not training:
            return data
        samples = data['data_samples']
        targets = torch.stack([s.gt_score for s in samples]).float()
        weights = None
        if self._batch_state is not None:
            idx = torch.tensor([s.sample_idx for s in samples])
            state_idx, batch_targets, weights = self._batch_state
            self._batch_state = None
            if not torch.equal(idx, state_idx.cpu()):
                raise RuntimeError(
                    'BalanceMixDataPreprocessor: the batch label state was '
                    'made for another batch (LabelManagerHook with '
                    'sparse=True must run before every training step)')
            targets = batch_targets.to(targets)
            weights = weights.to(targets)
        elif self.refined_labels is not None:
            # labels are refined before mixing, both halves (Eq. 5, 9)
            idx = torch.tensor([s.sample_idx for s in samples])
            targets = self.refined_labels[idx].to(targets)
            # a mixed instance's label weights are its random instance's
            random_idx, _ = split_dual_batch(idx)
            weights = self.label_weights[random_idx].to(targets)
        inputs, targets, _ = self.mixer(data['inputs'], targets)
        # One DataSample per mixed instance.
        samples, _ = split_dual_batch(samples)
        if weights is None:
            weights = torch.ones_like(targets)
        for sample, target, weight in zip(samples, targets, weights):
            sample.set_gt_score(target)
            sample.set_field(weight, 'label_weight')
        return dict(inputs=inputs, data_samples=samples)
