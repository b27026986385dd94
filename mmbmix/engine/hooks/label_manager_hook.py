"""Glue between mmengine's runner and the BalanceMix (Song et al., AAAI 2024)
label manager."""
import logging
import os
from typing import Optional

import torch
from mmengine.dist import broadcast, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmbmix.datasets.samplers import DualBatchSampler
from mmbmix.datasets.utils import get_label_csr, get_label_matrix
from mmbmix.engine.confidence import AuditConfidence, OnlineConfidence, predict
from mmbmix.models.utils.data_preprocessor import BalanceMixDataPreprocessor
from mmbmix.models.utils.label_manager import LabelManager, LabelState
from mmbmix.models.utils.streaming_label_manager import StreamingLabelManager
from mmbmix.utils import split_dual_batch

STATE_KEY = 'balancemix_label_manager'


def _broadcast(value: torch.Tensor) -> torch.Tensor:
    """Rank 0's copy of a tensor (bool tensors travel as uint8)."""
    buf = value.clone().view(torch.uint8) \
        if value.dtype == torch.bool else value.clone()
    broadcast(buf, src=0)
    return buf.view(value.dtype)


@HOOKS.register_module()
class LabelManagerHook(Hook):
    """Drive a :class:`~mmbmix.models.utils.LabelManager` during training.

    After every training epoch the hook takes the model's confidence on every
    training instance from its source, calls ``LabelManager.update``, gives
    every rank rank 0's state, hands the minority probabilities (Eq. 4) to
    the :class:`DualBatchSampler` and the training targets and weights
    (Eq. 9-10) to the :class:`BalanceMixDataPreprocessor`, logs the
    manager's diagnostics (``label/*``), and saves the state in checkpoints.

    Args:
        stats_source (str, optional): where the confidences come from (see
            :mod:`mmbmix.engine.confidence`). ``'audit'``: ``num_views``
            eval-mode passes over the training set after the epoch, each
            view augmented independently by the training pipeline (the
            paper's). ``'online'``: one eval-mode forward of each step's
            random half before the step's update; Eq. 9 averages over that
            one view. Defaults to ``'audit'`` (``'online'`` with
            ``sparse=True``, the only source it takes).
        sparse (bool): keep no ``N x K`` state: labels as CSR, statistics as
            streamed histograms, and ``p_G``, Eq. 9 and Eq. 10 evaluated for
            each batch when it is trained, from one eval-mode forward of the
            whole batch before the step
            (:class:`~mmbmix.models.utils.StreamingLabelManager`). Defaults
            to False (dense tables, :class:`LabelManager`).
        num_views (int): views per instance of the audit pass. Defaults to 2.
        batch_size, num_workers (int, optional): of the audit pass. Default
            to the training loader's.
        allow_label_change (bool): resume even if the training labels differ
            from the checkpoint's (also ``MMBMIX_ALLOW_LABEL_CHANGE=1``); the
            label state is then rebuilt. Defaults to False.
        **manager: the arguments of :class:`LabelManager`
            (``warmup_epochs``, ``relabel_threshold``, the Table 5 switches
            ``use_minority_sampler`` / ``use_clean`` / ``use_relabel`` /
            ``use_ambiguous``, ``score_form``, ``gmm``, ``shot_thresholds``).
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves the epoch

    def __init__(self,
                 stats_source: Optional[str] = None,
                 sparse: bool = False,
                 num_views: int = 2,
                 batch_size: Optional[int] = None,
                 num_workers: Optional[int] = None,
                 allow_label_change: bool = False,
                 **manager) -> None:
        if stats_source is None:
            stats_source = 'online' if sparse else 'audit'
        if sparse and stats_source != 'online':
            raise ValueError(
                "LabelManagerHook: sparse=True takes stats_source='online' "
                f'(each batch is evaluated when it is trained), got '
                f'{stats_source!r}')
        if stats_source not in ('audit', 'online'):
            raise ValueError('LabelManagerHook: stats_source must be '
                             f"'audit' or 'online', got {stats_source!r}")
        if not (isinstance(num_views, int) and num_views >= 1):
            raise ValueError('LabelManagerHook: num_views must be an int >= '
                             f'1, got {num_views!r}')
        self.stats_source = stats_source
        self.num_views = num_views
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.allow_label_change = allow_label_change or os.environ.get(
            'MMBMIX_ALLOW_LABEL_CHANGE', '') == '1'
        self.sparse = bool(sparse)
        self.manager = StreamingLabelManager(**manager) if self.sparse \
            else LabelManager(**manager)
        self._loaded_digest: Optional[str] = None
        self.diagnostics: dict = {}

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        self.sampler = loader.batch_sampler
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.preprocessor = model.data_preprocessor
        for obj, cls, field in ((self.sampler, DualBatchSampler,
                                 'train_dataloader.batch_sampler'),
                                (self.preprocessor, BalanceMixDataPreprocessor,
                                 'model.data_preprocessor')):
            if not isinstance(obj, cls):
                raise TypeError(f'LabelManagerHook needs {field} = '
                                f"dict(type='{cls.__name__}'); got "
                                f'{type(obj).__name__}')
        dataset = loader.dataset
        if self.sparse:
            clean = getattr(dataset, 'clean_label_csr', None)
            if clean is None:
                clean = getattr(dataset, 'clean_label_matrix', None)
            self.manager.reset(get_label_csr(dataset), clean)
        else:
            self.manager.reset(
                get_label_matrix(dataset),
                getattr(dataset, 'clean_label_matrix', None))
        self._check_num_classes(model, dataset)
        self._check_labels_unchanged(dataset)
        self.manager.check_state()
        if self.sparse:
            self.source = None
        elif self.stats_source == 'audit':
            self.source = AuditConfidence(loader, self.num_views,
                                          self.batch_size, self.num_workers)
        else:
            self.source = OnlineConfidence(self.sampler.drop_last)
        self._push_state()

    def before_train_epoch(self, runner) -> None:
        if self.stats_source == 'online' and not self.sparse:
            self.source.reset(self.manager.given.shape)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if data_batch is None or self.stats_source != 'online':
            return
        if not self.sparse:
            self.source.record(runner.model, data_batch)
            return
        # sparse: the whole batch in eval mode before the step; its random
        # half feeds the statistics, and both halves get their targets
        was_training = runner.model.training
        runner.model.eval()
        idx, scores = predict(runner.model, data_batch)
        runner.model.train(was_training)
        num_random = split_dual_batch(idx)[0].numel()
        targets, weights = self.manager.step(idx, scores, num_random)
        self.preprocessor.set_batch_label_state(idx, targets, weights)

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
        if self.sparse:
            self.manager.all_reduce()
            self.manager.update(epoch=runner.epoch + 1)
        else:
            confidence = self.source(runner.model, self.manager.given.shape)
            self.manager.update(confidence, epoch=runner.epoch + 1)
        self._report_unfitted()
        self._sync()
        self._push_state()
        self.diagnostics = self.manager.diagnostics(
            self.sampler.sampling_probs)
        runner.logger.info(f'Epoch(label) [{runner.epoch + 1}] ' +
                           '  '.join(f'{k}: {v:.4f}'
                                     for k, v in self.diagnostics.items()))
        runner.visualizer.add_scalars(
            {
                f'label/{k}': v
                for k, v in self.diagnostics.items()
            },
            step=runner.epoch + 1)

    def _push_state(self) -> None:
        self.sampler.set_sampling_probs(self.manager.state.sampling_probs)
        self.preprocessor.set_label_state(*self.manager.training_targets())

    def _sync(self) -> None:
        """Give every rank rank 0's state, bit for bit."""
        if get_dist_info()[1] == 1:
            return
        state = self.manager.state
        for name in LabelState.names():
            value = getattr(state, name)
            if value is not None:
                setattr(state, name, _broadcast(value))
        params = getattr(self.manager, 'params', None)
        if params is not None:  # the sparse manager's mixtures
            self.manager.params = type(params)(*map(_broadcast, params))

    def _report_unfitted(self) -> None:
        """Say once which label sets were too small or too uniform for a
        mixture (their labels count as clean)."""
        sets = self.manager.unfitted_sets()
        if sets and tuple(sets) != getattr(self, '_reported', None):
            self._reported = tuple(sets)
            more = ' ...' if len(sets) > 20 else ''
            print_log(
                f'LabelManagerHook: {len(sets)} label sets are not '
                'split by a mixture and are treated as clean: ' +
                ', '.join(sets[:20]) + more,
                logger='current',
                level=logging.WARNING)

    def _check_num_classes(self, model, dataset) -> None:
        """The model's K must be the training set's."""
        k = self.manager.given.shape[1]
        for field, value in (('model.head.num_classes',
                              getattr(
                                  getattr(model, 'head', None), 'num_classes',
                                  k)), ('data_preprocessor.num_classes',
                                        self.preprocessor.num_classes)):
            if value is not None and value != k:
                raise ValueError(
                    f'LabelManagerHook: config field {field} is {value}, but '
                    f'the training set {type(dataset).__name__} '
                    f'({getattr(dataset, "ann_file", "")}) has {k} classes')

    def _check_labels_unchanged(self, dataset) -> None:
        source = getattr(dataset, 'ann_file', type(dataset).__name__)
        if self.manager.labels_changed(self._loaded_digest, source,
                                       self.allow_label_change):
            print_log(
                'LabelManagerHook: the training labels differ from the '
                "checkpoint's; allowed: the label state is rebuilt.",
                logger='current',
                level=logging.WARNING)
            self.manager.load_state_dict({})

    def state_dict(self) -> dict:
        return self.manager.state_dict()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = self.manager.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if STATE_KEY in checkpoint:
            self._loaded_digest = checkpoint[STATE_KEY].get('label_digest')
            self.manager.load_state_dict(checkpoint[STATE_KEY])
