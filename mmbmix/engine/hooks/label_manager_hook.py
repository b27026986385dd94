"""Glue between mmengine's runner and the BalanceMix (Song et al., AAAI 2024)
label manager."""
import os
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmbmix.datasets.checks import check_training_set
from mmbmix.datasets.samplers import DualBatchSampler
from mmbmix.datasets.utils import get_label_csr
from mmbmix.engine.confidence import (AuditConfidence, OnlineConfidence,
                                      add_views, views_confidence)
from mmbmix.models.utils import BalanceMixDataPreprocessor, LabelManager
from mmbmix.utils import split_dual_batch

STATE_KEY = 'balancemix_label_manager'
STATS_SOURCES = ('batch', 'audit', 'online')


@HOOKS.register_module()
class LabelManagerHook(Hook):
    """Drive a BalanceMix label manager during training.

    Before each training step it puts each sample's target (``gt_score``)
    and label weights (``label_weight``, Eq. 9-10) into the sample, where
    :class:`BalanceMixDataPreprocessor` mixes them. After each epoch it
    updates the manager (Eq. 2-4, 6-7), gives every rank rank 0's state,
    hands Eq. 4 to the :class:`DualBatchSampler` and logs ``label/*``.

    Args:
        stats_source (str): ``'batch'`` (Algorithm 1): each batch's labels
            are decided before its step under the current model
            (:meth:`LabelManager.step`), from the mean over ``num_views``
            views: the training pipeline's transforms after loading, run
            independently on the loaded image (``MultiView``; the first
            view is trained on). ``'audit'`` / ``'online'``: decided once
            per epoch (``LabelManager.update(epoch, confidence)``) from an
            eval pass over the training set after the epoch, or from each
            step's random half. Defaults to ``'batch'``.
        statistics (str): ``'exact'`` (every loss) or ``'histogram'`` (no
            ``N x K`` state; ``'batch'`` only). Defaults to ``'exact'``.
        sparse (bool): ``statistics='histogram'``. Defaults to False.
        num_views (int): views per instance (Eq. 9). Defaults to 2.
        batch_size, num_workers (int, optional): of the audit pass. Default
            to the training loader's.
        allow_label_change (bool): resume even if the training labels differ
            from the checkpoint's (also ``MMBMIX_ALLOW_LABEL_CHANGE=1``); the
            label state is then rebuilt. Defaults to False.
        **manager: the arguments of :class:`LabelManager` and ``num_bins``.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves the epoch

    def __init__(self,
                 stats_source: str = 'batch',
                 statistics: Optional[str] = None,
                 sparse: bool = False,
                 num_views: int = 2,
                 batch_size: Optional[int] = None,
                 num_workers: Optional[int] = None,
                 allow_label_change: bool = False,
                 **manager) -> None:
        statistics = statistics or ('histogram' if sparse else 'exact')
        if stats_source not in STATS_SOURCES:
            raise ValueError('LabelManagerHook: stats_source must be one of '
                             f'{STATS_SOURCES}, got {stats_source!r}')
        if stats_source != 'batch' and (sparse or statistics != 'exact'
                                        or manager.get('ambiguous',
                                                       'weight') != 'weight'
                                        or manager.get('weight_floor', 0) > 0):
            raise ValueError(
                'LabelManagerHook: statistics / sparse / ambiguous / '
                f"weight_floor take stats_source='batch', got {stats_source!r}"
            )
        if not (isinstance(num_views, int) and num_views >= 1):
            raise ValueError('LabelManagerHook: num_views must be an int >= '
                             f'1, got {num_views!r}')
        self.stats_source, self.num_views = stats_source, num_views
        self.batch_size, self.num_workers = batch_size, num_workers
        self.allow_label_change = allow_label_change or os.environ.get(
            'MMBMIX_ALLOW_LABEL_CHANGE', '') == '1'
        self.per_batch = stats_source == 'batch'
        self.manager = LabelManager(statistics=statistics, **manager)
        self.source, self._loaded_digest, self.diagnostics = None, None, {}

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        self.sampler = loader.batch_sampler
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for obj, cls, field in ((self.sampler, DualBatchSampler,
                                 'train_dataloader.batch_sampler'),
                                (model.data_preprocessor,
                                 BalanceMixDataPreprocessor,
                                 'model.data_preprocessor')):
            if not isinstance(obj, cls):
                raise TypeError(f'LabelManagerHook needs {field} = '
                                f"dict(type='{cls.__name__}'); got "
                                f'{type(obj).__name__}')
        dataset = loader.dataset
        check_training_set(dataset)  # a user's own annotations, one line
        clean = getattr(dataset, 'clean_label_csr', None)
        self.manager.reset(
            get_label_csr(dataset),
            getattr(dataset, 'clean_label_matrix', None)
            if clean is None else clean)
        self.manager.check_num_classes(model, dataset)
        self.manager.check_warmup(runner.max_epochs)
        self.manager.check_labels_unchanged(
            self._loaded_digest,
            getattr(dataset, 'ann_file',
                    type(dataset).__name__), self.allow_label_change)
        self.manager.check_state(self.per_batch)
        self.source = None
        if self.per_batch:
            add_views(dataset, self.num_views)
        elif self.stats_source == 'audit':
            self.source = AuditConfidence(loader, self.num_views,
                                          self.batch_size, self.num_workers)
        else:
            self.source = OnlineConfidence(self.sampler.drop_last)
        self.sampler.set_sampling_probs(self.manager.state.sampling_probs)

    def before_train_epoch(self, runner) -> None:
        if self.stats_source == 'online':
            self.source.reset(self.manager.given.shape)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if data_batch is None:
            return
        samples = data_batch['data_samples']
        idx = torch.tensor([s.sample_idx for s in samples])
        if self.per_batch:
            targets, weights = self._manage_batch(runner.model, data_batch,
                                                  idx)
        else:  # the per-epoch managers' tables ('online' records first)
            if self.stats_source == 'online':
                self.source.record(runner.model, data_batch)
            targets, weights = self.manager.training_targets(idx)
        if targets is not None:  # else: the given labels at weight 1
            for sample, target, weight in zip(samples, targets.float(),
                                              weights.float()):
                sample.set_gt_score(target)
                sample.set_field(weight, 'label_weight')

    def _manage_batch(self, model, data_batch: dict, idx: torch.Tensor):
        """Algorithm 1, line 13: the batch's labels under the current model
        (outside the managed epochs: statistics of the random half only)."""
        num_random = split_dual_batch(idx)[0].numel()
        managing = self.manager.managing
        conf = views_confidence(model, data_batch,
                                self.num_views if managing else 1,
                                idx.numel() if managing else num_random)
        return self.manager.step(idx, conf, num_random)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        loss = torch.as_tensor((outputs or {}).get('loss', 0.0)).detach()
        if not torch.isfinite(loss).all():
            raise FloatingPointError(
                f'LabelManagerHook: the training loss is {float(loss)} at '
                f'epoch {runner.epoch + 1}, iteration {batch_idx + 1}; '
                'stopping before it reaches the label state. Lower the '
                'learning rate or resume from the last checkpoint.')

    def after_train_epoch(self, runner) -> None:
        if self.per_batch:
            self.manager.all_reduce()
            self.manager.update(epoch=runner.epoch + 1)
        else:
            confidence = self.source(runner.model, self.manager.given.shape)
            self.manager.update(runner.epoch + 1, confidence)
        self.manager.report_unfitted()
        self.manager.broadcast()
        self.sampler.set_sampling_probs(self.manager.state.sampling_probs)
        self.diagnostics = self.manager.diagnostics(
            self.sampler.sampling_probs)
        runner.logger.info(f'Epoch(label) [{runner.epoch + 1}] ' +
                           '  '.join(f'{k}: {v:.4f}'
                                     for k, v in self.diagnostics.items()))
        scalars = {f'label/{k}': v for k, v in self.diagnostics.items()}
        runner.visualizer.add_scalars(scalars, step=runner.epoch + 1)

    def state_dict(self) -> dict:
        return self.manager.state_dict()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = self.manager.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if STATE_KEY in checkpoint:
            self._loaded_digest = checkpoint[STATE_KEY].get('label_digest')
            self.manager.load_state_dict(checkpoint[STATE_KEY])
