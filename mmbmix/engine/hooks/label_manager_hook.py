"""The BalanceMix label manager: statistics, mixtures, re-labeling."""
import hashlib
import logging
import os
import time
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, broadcast, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch.utils.data import DataLoader

from mmbmix.datasets.samplers import DualBatchSampler
from mmbmix.datasets.utils import get_label_matrix
from mmbmix.models.utils.data_preprocessor import BalanceMixDataPreprocessor
from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN, RELABELED,
                                                clean_prob, label_bce,
                                                label_diagnostics,
                                                label_states, label_weights,
                                                relabel)
from mmbmix.models.utils.minority_score import (class_confidence,
                                                instance_score, sampling_probs)

STATE_KEY = 'balancemix_label_manager'


@HOOKS.register_module()
class LabelManagerHook(Hook):
    """Fine-grained label-wise management and minority statistics.

    At the end of every training epoch the hook has the model's sigmoid
    confidence on every training instance, summed over ranks with one
    all-reduce: by default (``stats_source='online'``) from an eval-mode
    forward of each training step's random half, the two views of Eq. 9
    being this epoch's and the last epoch's; with ``stats_source='audit'``
    from a separate pass over the training set (``num_views`` forward passes
    in eval mode, each view augmented independently by the training
    pipeline's RandAugment). From the mean confidence over the views it:

    1. computes P(k), A(k), Score and the minority sampling probabilities
       (Eq. 2-4) and hands them to the :class:`DualBatchSampler`;
    2. from epoch ``warmup_epochs`` on, fits the 2K per-class mixtures to the
       per-label BCE losses (Eq. 6-8), marks clean labels (``p_G > 0.5``),
       re-labels confident non-clean labels (Eq. 9) and weights ambiguous
       ones by ``p_G`` (Eq. 10), and hands the refined labels and weights to
       the :class:`BalanceMixDataPreprocessor`;
    3. logs the fractions of clean / re-labeled / ambiguous labels, the share
       of the minority probability held by instances with a few-shot label
       (by the true labels where known; ``few_shot_share_uniform`` is that
       share under uniform sampling)
       and, when the dataset knows its clean labels
       (``LabelNoiseDataset``), label precision / recall and re-label
       proportion / accuracy (Eq. 12-13).

    Every rank ends the epoch with rank 0's state (broadcast), and the state
    is saved into checkpoints and restored on resume.

    Args:
        warmup_epochs (int): epochs of plain BCE on the mixed batch before
            label management starts (VOC 5, COCO 10, DeepFashion 5).
        relabel_threshold (float): epsilon of Eq. 9; 0.975 for clean,
            mislabel and flip noise, 0.55 for single positive labels.
        use_minority_sampler (bool): feed Eq. 4 to the sampler; False keeps
            the mixing partner uniform (Table 5: "random sampler" = Mixup).
        use_clean (bool): select clean labels (Eq. 8); False trains on the
            given labels throughout (no label management at all).
        use_relabel (bool): train on re-labeled labels (Eq. 9).
        use_ambiguous (bool): train on ambiguous labels weighted by p_G.
        num_views (int): augmented views per instance in the audit pass.
        batch_size (int, optional): audit batch size; defaults to the
            training dataloader's.
        num_workers (int, optional): audit workers; defaults to the training
            dataloader's.
        gmm (dict): keyword arguments of ``fit_gmm_1d`` (Eq. 7). Decision:
            a set whose loss variance is below ``min_var`` (by default the
            mixture's own variance floor ``reg_covar``) is "too uniform to
            fit" and counts as clean. Without it, a model that predicts
            nearly the same value for a whole class (early, or collapsing)
            gets two coincident components whose posterior is just their
            weight, and a whole set is marked clean or not clean at random;
            seen on the digits mosaic with 40% flip noise, where it fed a
            collapse to constant outputs.
        shot_thresholds (tuple[int, int]): positive-label counts above which
            a class is many-shot and below which it is few-shot.
        stats_source (str): where the per-epoch confidences come from.
            ``'online'`` (default): one no-grad forward, in eval mode, of
            each training step's random half (already loaded and augmented),
            so no extra data loading; the two views of Eq. 9 are this
            epoch's and the previous epoch's predictions.
            ``'audit'``: ``num_views`` forward passes over the training set
            after each epoch, each view augmented independently, as the
            paper describes. Decision: online is the default because it
            costs less (epoch 1.32x against 2.10x of Mixup + BCE,
            ``benchmarks/results/performance.md``) and, on the robustness
            benchmark's quick mode (3 seeds x 4 settings,
            ``benchmarks/results/robustness_quick.md``), its mAP and label
            precision / recall are within the seed spread of the audit
            pass's (mAP -0.5 / +0.3 / +1.2 / -0.4 on clean / mislabel 40% /
            flip 40% / single positive).
        allow_label_change (bool): resume even if the training labels differ
            from those the checkpoint was made with (also set by the
            environment variable ``MMBMIX_ALLOW_LABEL_CHANGE=1``). Defaults
            to False: a changed annotation file is an error on resume.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves the epoch

    def __init__(self,
                 warmup_epochs: int = 5,
                 relabel_threshold: float = 0.975,
                 use_minority_sampler: bool = True,
                 use_clean: bool = True,
                 use_relabel: bool = True,
                 use_ambiguous: bool = True,
                 num_views: int = 2,
                 batch_size: Optional[int] = None,
                 num_workers: Optional[int] = None,
                 gmm: dict = dict(
                     max_iter=10,
                     tol=1e-2,
                     reg_covar=5e-4,
                     min_samples=8,
                     min_var=5e-4),
                 shot_thresholds: Sequence[int] = (10000, 1000),
                 stats_source: str = 'online',
                 allow_label_change: bool = False) -> None:
        if not (isinstance(warmup_epochs, int) and warmup_epochs >= 0):
            raise ValueError('LabelManagerHook: warmup_epochs must be a '
                             f'non-negative int, got {warmup_epochs!r}')
        if not 0.5 < float(relabel_threshold) < 1:
            raise ValueError('LabelManagerHook: relabel_threshold must be in '
                             f'(0.5, 1), got {relabel_threshold!r}')
        if not (isinstance(num_views, int) and num_views >= 1):
            raise ValueError('LabelManagerHook: num_views must be an int >= '
                             f'1, got {num_views!r}')
        many, few = shot_thresholds
        if not few <= many:
            raise ValueError('LabelManagerHook: shot_thresholds must be '
                             f'(many, few) with few <= many, got '
                             f'{tuple(shot_thresholds)}')
        if stats_source not in ('audit', 'online'):
            raise ValueError('LabelManagerHook: stats_source must be '
                             f"'audit' or 'online', got {stats_source!r}")
        self.stats_source = stats_source
        self.online_prev: Optional[torch.Tensor] = None  # (N, K) float16
        self.warmup_epochs = warmup_epochs
        self.relabel_threshold = float(relabel_threshold)
        self.use_minority_sampler = use_minority_sampler
        self.use_clean = use_clean
        self.use_relabel = use_relabel
        self.use_ambiguous = use_ambiguous
        self.num_views = num_views
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.gmm = dict(gmm)
        self.shot_thresholds = (int(many), int(few))
        self.allow_label_change = allow_label_change or os.environ.get(
            'MMBMIX_ALLOW_LABEL_CHANGE', '') == '1'
        self._loaded_digest: Optional[str] = None
        # State (saved in checkpoints).
        self.sampling_probs: Optional[torch.Tensor] = None  # (N,) float64
        self.refined_labels: Optional[torch.Tensor] = None  # (N, K) bool
        self.label_state: Optional[torch.Tensor] = None  # (N, K) uint8
        self.p_clean: Optional[torch.Tensor] = None  # (N, K) float16
        self.diagnostics: dict = {}

    # ----------------------------------------------------------- set-up
    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        self.sampler = loader.batch_sampler
        if not isinstance(self.sampler, DualBatchSampler):
            raise TypeError(
                'LabelManagerHook needs train_dataloader.batch_sampler = '
                "dict(type='DualBatchSampler'); got "
                f'{type(self.sampler).__name__}')
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.preprocessor = model.data_preprocessor
        if not isinstance(self.preprocessor, BalanceMixDataPreprocessor):
            raise TypeError(
                'LabelManagerHook needs model.data_preprocessor = '
                "dict(type='BalanceMixDataPreprocessor', ...); got "
                f'{type(self.preprocessor).__name__}')
        dataset = loader.dataset
        self.given = get_label_matrix(dataset)
        self._check_num_classes(model, dataset)
        true = getattr(dataset, 'clean_label_matrix', None)
        self.true = None if true is None else torch.as_tensor(
            true, dtype=torch.bool)
        # Shot groups by the true labels where known, else by the given ones.
        labels = self.given if self.true is None else self.true
        few_shot_classes = labels.sum(0) < self.shot_thresholds[1]
        self.has_few_shot = labels[:, few_shot_classes].any(1)
        self._check_state_shape()
        self._check_labels_unchanged(dataset)
        if self.stats_source == 'audit':
            self._audit_loader = self._build_audit_loader(loader)
        self._push_state()

    def _build_audit_loader(self, loader: DataLoader) -> DataLoader:
        rank, world = get_dist_info()
        workers = loader.num_workers if self.num_workers is None \
            else self.num_workers
        return DataLoader(
            loader.dataset,
            batch_size=self.batch_size or self.sampler.batch_size,
            sampler=range(rank, len(loader.dataset), world),
            num_workers=workers,
            collate_fn=loader.collate_fn,
            persistent_workers=workers > 0)

    # ------------------------------------------------------------ epoch
    def before_train_epoch(self, runner) -> None:
        if self.stats_source == 'online':
            self._online_sum = torch.zeros(self.given.shape,
                                           dtype=torch.float64)
            self._online_count = torch.zeros(self.given.size(0),
                                             dtype=torch.float64)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is None:
            return
        loss = torch.as_tensor(loss).detach()
        if not torch.isfinite(loss).all():
            raise FloatingPointError(
                f'LabelManagerHook: the training loss is {float(loss)} at '
                f'epoch {runner.epoch + 1}, iteration {batch_idx + 1}; '
                'stopping before it reaches the label state. Lower the '
                'learning rate or resume from the last checkpoint.')
        if self.stats_source == 'online' and data_batch is not None:
            self._collect_online(runner, data_batch)

    @torch.no_grad()
    def _collect_online(self, runner, data_batch: dict) -> None:
        """Record the eval-mode sigmoid outputs of the step's random half."""
        b = len(data_batch['data_samples']) // 2
        half = dict(inputs=data_batch['inputs'][:b],
                    data_samples=data_batch['data_samples'][:b])
        runner.model.eval()
        idx, scores = self._predict(runner.model, half)
        runner.model.train()
        self._online_sum.index_add_(0, idx, scores)
        self._online_count.index_add_(0, idx, torch.ones(len(idx)).double())

    def after_train_epoch(self, runner) -> None:
        t0 = time.perf_counter()
        if self.stats_source == 'online':
            confidence = self.online_confidence()
        else:
            confidence = self.collect_confidence(runner)
        t1 = time.perf_counter()
        self.update(confidence, epoch=runner.epoch + 1)
        t2 = time.perf_counter()
        self._sync()
        self._push_state()
        t3 = time.perf_counter()
        # Seconds of this epoch's label management, for benchmarks/.
        fit = getattr(self, 'fit_seconds', 0.0)
        self.timings = dict(
            statistics=t1 - t0,
            mixture_fit=fit,
            relabel_and_scores=t2 - t1 - fit,
            sync_and_sampler=t3 - t2)
        self._log(runner)

    @staticmethod
    def _predict(model, data: dict):
        """Instance indices and float64 CPU sigmoid outputs of a batch."""
        outputs = model.val_step(data)
        idx = torch.tensor([o.sample_idx for o in outputs])
        scores = torch.stack([o.pred_score for o in outputs])
        return idx, scores.double().cpu()

    @torch.no_grad()
    def collect_confidence(self, runner) -> torch.Tensor:
        """Mean sigmoid output over ``num_views`` views of every training
        instance, ``(N, K)``, identical on every rank."""
        model = runner.model
        was_training = model.training
        model.eval()
        total = torch.zeros(self.given.shape, dtype=torch.float64)
        for _ in range(self.num_views):
            for data in self._audit_loader:
                total.index_add_(0, *self._predict(model, data))
        model.train(was_training)
        all_reduce(total, op='sum')
        return (total / self.num_views).float()

    def online_confidence(self) -> torch.Tensor:
        """``(N, K)`` mean of this epoch's and the previous epoch's online
        predictions (the two views of Eq. 9), identical on every rank."""
        all_reduce(self._online_sum, op='sum')
        all_reduce(self._online_count, op='sum')
        seen = (self._online_count > 0).unsqueeze(1)
        now = self._online_sum / self._online_count.clamp(min=1).unsqueeze(1)
        prev = self.online_prev
        if prev is None:
            prev = torch.full_like(now, 0.5)
        # Instances the random sampler skipped (drop_last) keep the old view.
        now = torch.where(seen, now, prev.double())
        confidence = now if self.online_prev is None else \
            (now + prev.double()) / 2
        self.online_prev = now.half()
        return confidence.float()

    def update(self, confidence: torch.Tensor, epoch: int) -> None:
        """Update the state from the confidences at the end of ``epoch``
        (1-based): Eq. 2-4 always, Eq. 6-10 after the warm-up."""
        given = self.given
        if not torch.isfinite(confidence).all():
            raise FloatingPointError(
                'LabelManagerHook: the model produced non-finite sigmoid '
                f'outputs on the training set at epoch {epoch}')
        if self.use_minority_sampler:
            P, A = class_confidence(confidence, given)
            self.sampling_probs = sampling_probs(instance_score(given, P, A))
        if not self.use_clean or epoch < self.warmup_epochs:
            return
        t0 = time.perf_counter()
        p_clean, fitted = clean_prob(
            label_bce(confidence, given), given, **self.gmm)
        self.fit_seconds = time.perf_counter() - t0
        self._report_unfitted(fitted)
        clean = p_clean > 0.5
        refined, relabeled = relabel(confidence, given, clean,
                                     self.relabel_threshold)
        self.p_clean = p_clean.half()
        self.refined_labels = refined
        self.label_state = label_states(clean, relabeled)

    def _report_unfitted(self, fitted: torch.Tensor) -> None:
        """Say once which label sets were too small or too uniform to fit
        (their labels count as clean)."""
        unfitted = [
            f'{kind} labels of class {k}'
            for kind, row in zip(('negative', 'positive'), ~fitted)
            for k in row.nonzero().flatten().tolist()
        ]
        key = tuple(unfitted)
        if unfitted and key != getattr(self, '_unfitted_reported', None):
            self._unfitted_reported = key
            print_log(
                f'LabelManagerHook: {len(unfitted)} of {fitted.numel()} label '
                'sets are too small or too uniform for a mixture and are '
                'treated as clean: ' + ', '.join(unfitted[:20]) +
                (' ...' if len(unfitted) > 20 else ''),
                logger='current',
                level=logging.WARNING)

    # ------------------------------------------------------ state plumbing
    def label_weights(self) -> Optional[torch.Tensor]:
        """``(N, K)`` loss weights of Eq. 10 from the current label state."""
        if self.label_state is None:
            return None
        return label_weights(self.label_state == CLEAN,
                             self.label_state == RELABELED, self.p_clean,
                             self.use_relabel, self.use_ambiguous).half()

    def _push_state(self) -> None:
        self.sampler.set_sampling_probs(self.sampling_probs)
        self.preprocessor.set_label_state(self.refined_labels,
                                          self.label_weights())

    def _sync(self) -> None:
        """Give every rank rank 0's state, bit for bit."""
        if get_dist_info()[1] == 1:
            return
        for name in ('sampling_probs', 'refined_labels', 'label_state',
                     'p_clean', 'online_prev'):
            value = getattr(self, name)
            if value is None:
                continue
            buf = value.view(torch.uint8) if value.dtype == torch.bool \
                else value.clone()
            broadcast(buf, src=0)
            setattr(self, name, buf.view(value.dtype))

    def state_dict(self) -> dict:
        return dict(
            label_digest=self.label_digest()
            if hasattr(self, 'given') else None,
            sampling_probs=self.sampling_probs,
            refined_labels=self.refined_labels,
            label_state=self.label_state,
            p_clean=self.p_clean,
            online_prev=self.online_prev)

    def load_state_dict(self, state: dict) -> None:
        self._loaded_digest = state.get('label_digest')
        for name in ('sampling_probs', 'refined_labels', 'label_state',
                     'p_clean', 'online_prev'):
            setattr(self, name, state.get(name))

    def _check_num_classes(self, model, dataset) -> None:
        """The model's K must be the training set's, or every label state
        would be misaligned."""
        k = self.given.size(1)
        for field, value in (
                ('model.head.num_classes',
                 getattr(getattr(model, 'head', None), 'num_classes', k)),
                ('data_preprocessor.num_classes',
                 self.preprocessor.num_classes)):
            if value is not None and value != k:
                raise ValueError(
                    f'LabelManagerHook: config field {field} is {value}, but '
                    f'the training set {type(dataset).__name__} '
                    f'({getattr(dataset, "ann_file", "")}) has {k} classes')

    def label_digest(self) -> str:
        """SHA-256 of the given training labels."""
        packed = torch.cat(
            [torch.tensor(self.given.shape),
             self.given.flatten().long()]).numpy()
        return hashlib.sha256(packed.tobytes()).hexdigest()

    def _check_labels_unchanged(self, dataset) -> None:
        if self._loaded_digest is None or \
                self._loaded_digest == self.label_digest():
            return
        msg = ('LabelManagerHook: the training labels differ from those '
               'the checkpoint was made with (label digest '
               f'{self._loaded_digest[:12]} in the checkpoint, '
               f'{self.label_digest()[:12]} now; dataset '
               f'{getattr(dataset, "ann_file", type(dataset).__name__)})')
        if not self.allow_label_change:
            raise ValueError(msg + '. Restore the annotation file, or set '
                             'allow_label_change=True (or the environment '
                             'variable MMBMIX_ALLOW_LABEL_CHANGE=1) to resume '
                             'anyway and rebuild the label state.')
        print_log(
            msg + '; allowed: the label state is rebuilt.',
            logger='current',
            level=logging.WARNING)
        self.load_state_dict({})

    def _check_state_shape(self) -> None:
        if self._loaded_digest is not None and \
                self._loaded_digest != self.label_digest():
            return  # reported by _check_labels_unchanged
        n, k = self.given.shape
        for name, shape in (('sampling_probs', (n, )), ('refined_labels', (n,
                                                                           k)),
                            ('label_state', (n, k)), ('p_clean', (n, k)),
                            ('online_prev', (n, k))):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(
                    f'LabelManagerHook: checkpoint field {STATE_KEY}.{name} '
                    f'has shape {tuple(value.shape)}, but the training set '
                    f'needs {shape}: the checkpoint is from another dataset')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if STATE_KEY in checkpoint:
            self.load_state_dict(checkpoint[STATE_KEY])

    # --------------------------------------------------------- diagnostics
    def compute_diagnostics(self) -> dict:
        """Fractions of clean / re-labeled / ambiguous labels, few-shot
        share of the minority sampler, and Eq. 12-13 when clean labels are
        known."""
        probs = self.sampler.sampling_probs
        has_few = self.has_few_shot
        diag = dict(
            few_shot_share=probs[has_few].sum().item(),
            few_shot_share_uniform=has_few.float().mean().item())
        if self.label_state is not None:
            s = self.label_state
            diag.update(
                clean_frac=(s == CLEAN).float().mean().item(),
                relabel_frac=(s == RELABELED).float().mean().item(),
                ambiguous_frac=(s == AMBIGUOUS).float().mean().item())
            if self.true is not None:
                diag.update(
                    label_diagnostics(self.given, self.true, s == CLEAN,
                                      s == RELABELED, self.refined_labels))
        return diag

    def _log(self, runner) -> None:
        self.diagnostics = self.compute_diagnostics()
        scalars = {f'label/{k}': v for k, v in self.diagnostics.items()}
        runner.logger.info(f'Epoch(label) [{runner.epoch + 1}] ' +
                           '  '.join(f'{k}: {v:.4f}'
                                     for k, v in self.diagnostics.items()))
        runner.visualizer.add_scalars(scalars, step=runner.epoch + 1)
