"""A training run's per-label state (BalanceMix, Song et al., AAAI 2024, Eq.
6-10), read from a checkpoint or re-made from a checkpoint's model, for the
analysis tools.

Errors are :class:`LabelStateError` with a one-line message naming the file
and field; the tools print it after their own name.
"""
import copy
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS, MODELS
from torch.utils.data import DataLoader

from mmbmix.datasets.utils import get_label_matrix
from mmbmix.engine.confidence import predict
from mmbmix.engine.hooks.label_manager_hook import STATE_KEY
from mmbmix.models.utils import LabelManager
from mmbmix.models.utils.label_manager import LabelState
from mmbmix.utils import hook_cfgs, register_safe_globals
from mmbmix.utils.checkpoint import CheckpointError, check_checkpoint_file

# LabelManagerHook arguments that LabelManager does not take (a refit is
# exact, over the whole training set)
HOOK_ONLY = ('stats_source', 'statistics', 'sparse', 'num_bins', 'num_views',
             'batch_size', 'num_workers', 'allow_label_change', 'priority')


class LabelStateError(ValueError):
    """A checkpoint, config or dataset that does not give a label state."""


PER_BATCH = ('batch', 'sparse')  # storage of a state without label table


def check_readable(path: str) -> None:
    """A one-line error for a checkpoint file that is missing or cut short
    (:func:`mmbmix.utils.checkpoint.check_checkpoint_file`: reads only the
    file's tail)."""
    if not osp.isfile(path):
        raise LabelStateError(f'no checkpoint file {path}')
    try:
        check_checkpoint_file(path)
    except CheckpointError as err:
        raise LabelStateError(
            f'{path} cannot be read as a checkpoint (truncated, corrupt or '
            f'not a torch file: {err})') from None


def read_checkpoint(path: str) -> dict:
    """``torch.load`` of a checkpoint file (weights only), with a one-line
    error for a file that is missing, truncated or not a checkpoint."""
    check_readable(path)
    register_safe_globals()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise LabelStateError(
            f'{path} cannot be read as a checkpoint (truncated, corrupt or '
            f'not a torch file: {first[:160]})') from None


def saved_per_batch(path: str) -> bool:
    """Whether a checkpoint was saved by the per-batch label manager
    (``LabelManagerHook(stats_source='batch')``, the default), whose label
    states are decided batch by batch and not saved: the tools then make
    them from the checkpoint's model (``--refit``)."""
    try:
        ckpt = read_checkpoint(path)
    except LabelStateError:  # the tools' own loading says what is wrong
        return False
    state = ckpt.get(STATE_KEY) if isinstance(ckpt, dict) else None
    return bool(state) and state.get('storage') in PER_BATCH


def load_label_state(path: str) -> dict:
    """The label manager's saved state of a checkpoint.

    Returns:
        dict: the fields of :class:`LabelState` (tensors; ``p_clean`` may be
        None in checkpoints of older versions) and ``label_digest``.
    """
    ckpt = read_checkpoint(path)
    state = ckpt.get(STATE_KEY) if isinstance(ckpt, dict) else None
    if state and state.get('storage') in PER_BATCH:
        raise LabelStateError(
            f'{path} was saved by the per-batch label manager, which keeps '
            f'no per-label state (field {STATE_KEY!r}.storage is '
            f"{state.get('storage')!r}); use --refit")
    if not state or state.get('label_state') is None:
        raise LabelStateError(
            f'{path} has no label state (field {STATE_KEY!r}.label_state): '
            'it was saved before the label manager\'s first managed epoch, '
            'or not by BalanceMix; use --refit')
    out = {name: state.get(name) for name in LabelState.names()}
    out['label_digest'] = state.get('label_digest')
    return out


def build_train_set(cfg: Config, pipeline=None):
    """The config's training set; ``pipeline`` replaces the pipeline of the
    innermost dataset (the one a ``LabelNoiseDataset`` wraps)."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)  # cfg unchanged
    if pipeline is not None:
        inner = ds_cfg
        while 'dataset' in inner:
            inner = inner['dataset']
        inner['pipeline'] = pipeline
    return DATASETS.build(ds_cfg)


def load_labels(dataset, require_clean: bool = False):
    """``(given, clean, classes)`` of a built training set: ``(N, K)`` bool
    tensors; ``clean`` is None where the dataset does not know its clean
    labels (only ``LabelNoiseDataset`` does), an error if
    ``require_clean``."""
    given = get_label_matrix(dataset).bool()
    clean = getattr(dataset, 'clean_label_matrix', None)
    if clean is None and require_clean:
        raise LabelStateError(
            f'the training set ({type(dataset).__name__}) does not know its '
            'clean labels; wrap it in LabelNoiseDataset')
    clean = None if clean is None else torch.from_numpy(
        np.asarray(clean)).bool()
    return given, clean, dataset.metainfo.get('classes')


def manager_from_config(cfg: Config) -> LabelManager:
    """The ``LabelManager`` of the config's ``LabelManagerHook`` (the
    defaults where it has none), with clean-label selection on even where
    the config ablates it."""
    kwargs = {}
    for hook in hook_cfgs(cfg, 'LabelManagerHook'):
        kwargs = {
            k: v
            for k, v in hook.items() if k != 'type' and k not in HOOK_ONLY
        }
    kwargs['use_clean'] = True
    return LabelManager(**kwargs)


def test_pipeline_of(cfg: Config) -> list:
    """The pipeline the config evaluates with: ``test_pipeline``, else the
    validation dataset's (a one-line error naming both fields)."""
    pipeline = cfg.get('test_pipeline') or cfg.get('val_dataloader', {}).get(
        'dataset', {}).get('pipeline')
    if not pipeline:
        raise LabelStateError('the config has no test_pipeline or '
                              'val_dataloader.dataset.pipeline to load the '
                              'training images as the model is evaluated')
    return pipeline


def load_model(cfg: Config, checkpoint: str):
    """The config's model with the checkpoint's weights (strict), in eval
    mode; one-line errors for a missing, truncated or misfit file."""
    check_readable(checkpoint)  # a truncated file: one line, not a misfit
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    try:  # strict: a checkpoint of another model is an error, not a warning
        load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='silent')
    except (RuntimeError, KeyError) as err:
        raise LabelStateError(
            f'{checkpoint} does not fit the model of the config: '
            f'{str(err).splitlines()[0][:300]}') from None
    return model.eval()


@torch.no_grad()
def predict_train_set(cfg: Config,
                      checkpoint: str,
                      batch_size: int = 256,
                      model=None) -> torch.Tensor:
    """``(N, K)`` sigmoid outputs of the checkpoint's model (``model``, if
    given, instead) on every training instance, with the test pipeline, in
    eval mode."""
    dataset = build_train_set(cfg, test_pipeline_of(cfg))
    if len(dataset) == 0:
        raise LabelStateError('the training set is empty')
    model = load_model(cfg, checkpoint) if model is None else model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, collate_fn=pseudo_collate)
    # the audit pass's own step: val_step -> (sample_idx, scores)
    idx, scores = map(torch.cat,
                      zip(*(predict(model, data) for data in loader)))
    confidence = torch.full((len(dataset), scores.size(1)), float('nan'))
    confidence[idx] = scores.float()
    return confidence


def refit_label_state(cfg: Config,
                      given: torch.Tensor,
                      confidence: torch.Tensor,
                      source: Optional[str] = None) -> LabelState:
    """The :class:`LabelState` the config's label manager makes from the
    confidences ``(N, K)`` of a model (Eq. 6-9, one view), as at the end of
    a managed training epoch."""
    if confidence.shape != given.shape:
        raise LabelStateError(
            f'the model{" of " + source if source else ""} predicts '
            f'{tuple(confidence.shape)} scores, the training set has '
            f'{tuple(given.shape)} labels')
    manager = manager_from_config(cfg)
    manager.reset(given)
    manager.update(max(manager.warmup_epochs, 1), confidence)
    return manager.state
