"""Where the label manager's clean-label selection goes wrong, set by set.

Reads a BalanceMix checkpoint's label state (``LabelManagerHook``) and the
training set of its config, which must know its clean labels
(``LabelNoiseDataset``), and prints label precision and recall (Eq. 12) and
re-label proportion and accuracy (Eq. 13): over all labels, over the given
positive and the given negative labels, and for each of the 2K sets the
mixtures are fit to (class k's given positives / negatives), with each set's
noise rate and how many wrong labels it had selected as clean.

Usage:
    python tools/analysis_tools/label_diagnostics.py CONFIG CHECKPOINT \
        [--json OUT.json]
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import mmbmix  # noqa: F401  (registers the datasets)
from mmbmix.models.utils.label_refinery import (CLEAN, RELABELED,
                                                label_diagnostics)
from mmbmix.utils import register_safe_globals

STATE_KEY = 'balancemix_label_manager'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the config the checkpoint was '
                        'trained with')
    parser.add_argument('checkpoint', help='a checkpoint of that training')
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


def load_labels(cfg_path: str):
    """Given and clean ``(N, K)`` label matrices of the training set."""
    cfg = Config.fromfile(cfg_path)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    if not hasattr(dataset, 'clean_label_matrix'):
        sys.exit(f'label_diagnostics: the training set of {cfg_path} '
                 f'({type(dataset).__name__}) does not know its clean '
                 'labels; wrap it in LabelNoiseDataset')
    given = torch.from_numpy(np.asarray(dataset.label_matrix)).bool()
    true = torch.from_numpy(np.asarray(dataset.clean_label_matrix)).bool()
    return given, true, dataset.metainfo.get('classes')


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
    label_state, refined = load_label_state(args.checkpoint)
    given, true, classes = load_labels(args.config)
    rows = set_diagnostics(given, true, label_state, refined.bool(), classes)
    print(format_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
