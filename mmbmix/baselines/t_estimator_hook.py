"""Estimate the transition matrices after warm-up (T-estimator baseline).

Li et al., "Estimating Noise Transition Matrix with Label Correlations for
Noisy Multi-Label Learning", NeurIPS 2022.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmbmix.datasets.utils import get_label_matrix
from mmbmix.engine.confidence import AuditConfidence

from .transition_estimator import NOISE_TYPES, estimate_transition

STATE_KEY = 't_estimator'


@HOOKS.register_module()
class TEstimatorHook(Hook):
    """Warm-up with the plain loss, then estimate T once and hand it over.

    After training epoch ``warmup_epochs`` the hook predicts the whole
    training set in eval mode (:class:`~mmbmix.engine.confidence.
    AuditConfidence`: the training loader's dataset and pipeline), estimates
    the per-class transition matrices from these scores and the given labels
    (:func:`~mmbmix.baselines.transition_estimator.estimate_transition`;
    never the clean labels) and gives them to the head's loss, a
    :class:`~mmbmix.models.losses.TransitionReweightedLoss`, which is plain
    BCE until then. The matrices, the fallback mask and the epoch are saved
    in checkpoints and restored on resume.

    Args:
        warmup_epochs (int): epochs of plain BCE before the estimate, >= 1.
            Defaults to 3.
        noise_type (str): what the user knows of the noise: ``'general'``
            (both flip directions) or ``'missing'`` (missing labels, e.g.
            single positive: a given positive is always right).
            Defaults to ``'general'``.
        num_views (int): augmented views per instance of the eval pass.
            Defaults to 1.
        batch_size (int, optional): eval batch size. Defaults to the
            training loader's.
        num_workers (int, optional): eval workers. Defaults to the training
            loader's.
        **estimator: the other arguments of ``estimate_transition``
            (``select_ratio``, ``min_selected``, ``min_identifiability``,
            ``anchor_quantile``, ``max_noise``).
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves the epoch

    def __init__(self,
                 warmup_epochs: int = 3,
                 noise_type: str = 'general',
                 num_views: int = 1,
                 batch_size: Optional[int] = None,
                 num_workers: Optional[int] = None,
                 **estimator) -> None:
        if not (isinstance(warmup_epochs, int) and warmup_epochs >= 1):
            raise ValueError('TEstimatorHook: warmup_epochs must be an int '
                             f'>= 1, got {warmup_epochs!r}')
        if noise_type not in NOISE_TYPES:
            raise ValueError(f'TEstimatorHook: noise_type must be one of '
                             f'{NOISE_TYPES}, got {noise_type!r}')
        self.warmup_epochs = warmup_epochs
        self.noise_type = noise_type
        self.num_views = num_views
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.estimator = estimator
        self.transition: Optional[torch.Tensor] = None
        self.fallback: Optional[torch.Tensor] = None
        self.epoch: Optional[int] = None
        self.loss = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.loss = getattr(getattr(model, 'head', None), 'loss_module', None)
        if not hasattr(self.loss, 'set_transition'):
            raise TypeError("TEstimatorHook needs model.head.loss = dict(type="
                            "'TransitionReweightedLoss'); got "
                            f'{type(self.loss).__name__}')
        self.source = AuditConfidence(runner.train_dataloader, self.num_views,
                                      self.batch_size, self.num_workers)
        self.loss.set_transition(self.transition)

    def after_train_epoch(self, runner) -> None:
        if self.transition is not None or \
                runner.epoch + 1 < self.warmup_epochs:
            return
        labels = get_label_matrix(runner.train_dataloader.dataset)
        scores = self.source(runner.model, labels.shape)
        self.transition, self.fallback = estimate_transition(
            scores, labels, self.noise_type, **self.estimator)
        self.epoch = runner.epoch + 1
        self.loss.set_transition(self.transition)
        rho01 = self.transition[:, 0, 1].tolist()
        rho10 = self.transition[:, 1, 0].tolist()
        runner.logger.info(
            f'Epoch(T) [{self.epoch}] co-occurrence estimate for '
            f'{int((~self.fallback).sum())} of {len(rho01)} classes '
            f'(anchor points for the others); rho_01: ' +
            ' '.join(f'{r:.3f}'
                     for r in rho01) + '  rho_10: ' + ' '.join(f'{r:.3f}'
                                                               for r in rho10))

    def state_dict(self) -> dict:
        return dict(
            transition=self.transition,
            fallback=self.fallback,
            epoch=self.epoch)

    def load_state_dict(self, state: dict) -> None:
        self.transition = state.get('transition')
        self.fallback = state.get('fallback')
        self.epoch = state.get('epoch')
        if self.loss is not None:
            self.loss.set_transition(self.transition)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if STATE_KEY in checkpoint:
            self.load_state_dict(checkpoint[STATE_KEY])
