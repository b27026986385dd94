"""Where the label manager's clean-label selection goes wrong, set by set.

Reads a BalanceMix checkpoint's label state (``LabelManagerHook``) and the
training set of its config, which must know its clean labels
(``LabelNoiseDataset``), and prints label precision and recall (Eq. 12) and
re-label proportion and accuracy (Eq. 13): over all labels, over the given
positive and the given negative labels, and for each of the 2K sets the
mixtures are fit to (class k's given positives / negatives), with each set's
noise rate and how many wrong labels it had selected as clean.

With ``--refit``, the label state is not read from the checkpoint but made
from it: the checkpoint's model (any mmpretrain multi-label classifier, e.g.
a BCE or Mixup baseline) predicts every training instance once, with the
test pipeline, and the ``LabelManager`` of the config's ``LabelManagerHook``
(its defaults where the config has none) applies Eq. 6-9 to those confidences, exactly as it does
at the end of a training epoch (one un-augmented view instead of two
augmented ones). It answers "what would the label manager select from this
model?", e.g. to tell the selection rule from the model it is given.

Usage:
    python tools/analysis_tools/label_diagnostics.py CONFIG CHECKPOINT \
        [--refit] [--json OUT.json]
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS, MODELS
from torch.utils.data import DataLoader

import mmbmix  # noqa: F401  (registers the datasets)
from mmbmix.engine.confidence import predict
from mmbmix.models.utils import LabelManager
from mmbmix.models.utils.label_refinery import (CLEAN, RELABELED,
                                                label_diagnostics)
from mmbmix.utils import register_safe_globals

STATE_KEY = 'balancemix_label_manager'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the config the checkpoint was '
                        'trained with')
    parser.add_argument('checkpoint', help='a checkpoint of that training')
    parser.add_argument(
        '--refit',
        action='store_true',
        help='make the label state from the checkpoint\'s model (one pass '
        'over the training set, then the config\'s LabelManagerHook rule) '
        'instead of reading it from the checkpoint')
    parser.add_argument('--batch-size', type=int, default=256,
                        help='batch size of the --refit pass')
    parser.add_argument('--json', help='also write the figures here')
    return parser.parse_args(argv)


def load_label_state(path: str):
    """``(label_state, refined_labels)`` from a checkpoint, as tensors."""
    if not osp.isfile(path):
        sys.exit(f'label_diagnostics: no checkpoint file {path}')
    register_safe_globals()
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    state = ckpt.get(STATE_KEY) if isinstance(ckpt, dict) else None
    if not state or state.get('label_state') is None:
        sys.exit(f'label_diagnostics: {path} has no label state (field '
                 f'{STATE_KEY!r}.label_state): it was saved before the '
                 'label manager\'s first managed epoch, or not by BalanceMix')
    return state['label_state'], state['refined_labels']


def build_train_set(cfg: Config, pipeline=None):
    """The config's training set; ``pipeline`` replaces the pipeline of the
    innermost dataset (the one a ``LabelNoiseDataset`` wraps)."""
    ds_cfg = cfg.train_dataloader.dataset.copy()
    if pipeline is not None:
        inner = ds_cfg
        while 'dataset' in inner:
            inner = inner['dataset']
        inner['pipeline'] = pipeline
    return DATASETS.build(ds_cfg)


def load_labels(cfg_path: str):
    """Given and clean ``(N, K)`` label matrices of the training set."""
    cfg = Config.fromfile(cfg_path)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = build_train_set(cfg)
    if not hasattr(dataset, 'clean_label_matrix'):
        sys.exit(f'label_diagnostics: the training set of {cfg_path} '
                 f'({type(dataset).__name__}) does not know its clean '
                 'labels; wrap it in LabelNoiseDataset')
    given = torch.from_numpy(np.asarray(dataset.label_matrix)).bool()
    true = torch.from_numpy(np.asarray(dataset.clean_label_matrix)).bool()
    return given, true, dataset.metainfo.get('classes')


HOOK_ONLY = ('stats_source', 'num_views', 'batch_size', 'num_workers',
             'allow_label_change', 'priority')


def manager_from_config(cfg: Config) -> LabelManager:
    """The ``LabelManager`` of the config's ``LabelManagerHook`` (the
    defaults where it has none), with clean-label selection on even where
    the config ablates it."""
    kwargs = {}
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'LabelManagerHook':
            kwargs = {k: v for k, v in hook.items()
                      if k != 'type' and k not in HOOK_ONLY}
    kwargs['use_clean'] = True
    return LabelManager(**kwargs)


@torch.no_grad()
def predict_train_set(cfg: Config, checkpoint: str,
                      batch_size: int = 256) -> torch.Tensor:
    """``(N, K)`` sigmoid outputs of the checkpoint's model on every
    training instance, with the test pipeline, in eval mode."""
    if not osp.isfile(checkpoint):
        sys.exit(f'label_diagnostics: no checkpoint file {checkpoint}')
    pipeline = cfg.get('test_pipeline') or cfg.get(
        'val_dataloader', {}).get('dataset', {}).get('pipeline')
    if not pipeline:
        sys.exit('label_diagnostics: --refit needs the config\'s '
                 'test_pipeline or val_dataloader.dataset.pipeline')
    dataset = build_train_set(cfg, pipeline)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    register_safe_globals()
    try:  # strict: a checkpoint of another model is an error, not a warning
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    except (RuntimeError, KeyError) as err:
        sys.exit(f'label_diagnostics: {checkpoint} does not fit the model '
                 f'of the config: {str(err).splitlines()[0][:300]}')
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size,
                        collate_fn=pseudo_collate)
    if len(dataset) == 0:
        sys.exit('label_diagnostics: the training set is empty')
    # the audit pass's own step: val_step -> (sample_idx, scores)
    idx, scores = map(torch.cat, zip(*(predict(model, data)
                                       for data in loader)))
    confidence = torch.full((len(dataset), scores.size(1)), float('nan'))
    confidence[idx] = scores.float()
    return confidence


def refit_label_state(cfg: Config, checkpoint: str, given: torch.Tensor,
                      batch_size: int = 256):
    """``(label_state, refined_labels)`` that the config's label manager
    makes from the checkpoint's model (Eq. 6-9)."""
    manager = manager_from_config(cfg)
    manager.reset(given)
    confidence = predict_train_set(cfg, checkpoint, batch_size)
    if confidence.shape != given.shape:
        sys.exit(f'label_diagnostics: the model of {checkpoint} predicts '
                 f'{confidence.size(1)} classes, the training set has '
                 f'{given.size(1)}')
    manager.update(confidence, epoch=max(manager.warmup_epochs, 1))
    return manager.state.label_state, manager.state.refined_labels


def set_diagnostics(given, true, label_state, refined, classes=None) -> list:
    """Rows of figures: all labels, given positives, given negatives, then
    class k's given positives and negatives for every k (named
    ``'<classes[k]> +'`` / ``'-'``, or ``'class k +'`` without names)."""
    if label_state.shape != given.shape:
        raise ValueError(f'label_diagnostics: the checkpoint\'s label state '
                         f'is {tuple(label_state.shape)} but the training '
                         f'set has {tuple(given.shape)} labels')
    clean, relabeled = label_state == CLEAN, label_state == RELABELED

    def row(name, mask):
        figs = label_diagnostics(given[mask], true[mask], clean[mask],
                                 relabeled[mask], refined[mask])
        wrong = given[mask] != true[mask]
        return dict(
            set=name,
            labels=int(mask.sum()),
            noise=wrong.float().mean().item() if mask.any() else 0.0,
            clean_fraction=clean[mask].float().mean().item()
            if mask.any() else 0.0,
            wrong_selected=int((clean[mask] & wrong).sum()),
            **figs)

    everything = torch.ones_like(given)
    rows = [row('all', everything), row('given positive', given),
            row('given negative', ~given)]
    for k in range(given.size(1)):
        name = classes[k] if classes else f'class {k}'
        column = torch.zeros_like(given)
        column[:, k] = True
        rows += [row(f'{name} +', column & given),
                 row(f'{name} -', column & ~given)]
    return rows


def format_table(rows) -> str:
    pct = lambda v: 'n.a.' if v != v else f'{100 * v:.1f}'  # noqa: E731
    lines = [
        '| set | labels | noise % | selected clean % | precision % | '
        'recall % | wrong labels selected | re-labeled % | re-label acc. % |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['labels']} | {pct(r['noise'])} | "
            f"{pct(r['clean_fraction'])} | {pct(r['precision'])} | "
            f"{pct(r['recall'])} | {r['wrong_selected']} | "
            f"{pct(r['relabel_proportion'])} | "
            f"{pct(r['relabel_accuracy'])} |")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    given, true, classes = load_labels(args.config)
    if args.refit:
        label_state, refined = refit_label_state(
            Config.fromfile(args.config), args.checkpoint, given,
            args.batch_size)
    else:
        label_state, refined = load_label_state(args.checkpoint)
    rows = set_diagnostics(given, true, label_state, refined.bool(), classes)
    print(format_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
