"""How often the minority sampler draws each class, form by form (Eq. 2-4).

A checkpoint's model predicts every training instance once (test pipeline,
as ``label_diagnostics.py --refit``); from those confidences and the given
labels, each form of Eq. 3 (``score_form``: ``literal``, ``mean``, ``min``)
gives the sampler's probabilities (Eq. 4). Printed per form: the mass on
instances with a few-shot label against uniform sampling (the figure the
training log calls ``few_shot_share``), and per class the mass on
instances with a given positive of the class, as a multiple of uniform,
with, where the training set knows its clean labels, the share of that
mass on instances whose positive of the class is wrong (oversampling a
class whose positives are wrong draws its wrong labels more often).

Usage:
    python tools/analysis_tools/sampler_shares.py CONFIG CHECKPOINT \
        [--forms literal mean min] [--json OUT.json]
"""
import argparse
import json
import sys

import torch
from mmengine.config import Config, DictAction

import mmbmix  # noqa: F401  (registers the datasets)
from mmbmix.apis import (LabelStateError, build_train_set, load_labels,
                         predict_train_set)
from mmbmix.evaluation.metrics.shot_group_map import tercile_thresholds
from mmbmix.models.utils.minority_score import (SCORE_FORMS, class_confidence,
                                                instance_score, sampling_probs)


def sampler_shares(given,
                   confidence,
                   forms=SCORE_FORMS,
                   true=None,
                   classes=None) -> list:
    """One row per form of Eq. 3: the sampler's mass on few-shot instances
    and per class, as multiples of uniform sampling.

    Args:
        given (Tensor): ``(N, K)`` given labels (bool).
        confidence (Tensor): ``(N, K)`` sigmoid outputs of a model.
        forms (Sequence[str]): forms of :func:`instance_score`. Defaults to
            all of them.
        true (Tensor, optional): ``(N, K)`` clean labels; adds
            ``wrong_share``: per class, the share of the class's mass on
            instances whose given positive of it is wrong.
        classes (Sequence[str], optional): class names. Defaults to
            ``class k``.

    Returns:
        list[dict]: ``form``, ``few_shot_share``, ``few_shot_share_uniform``
        (fractions), ``class_ratio`` (name -> mass / uniform mass) and, with
        ``true``, ``wrong_share`` (name -> fraction); the first row is
        uniform sampling.
    """
    given = given.bool()
    n, k = given.shape
    names = list(classes) if classes else [f'class {j}' for j in range(k)]
    counts = given.sum(0).numpy()
    _, few_thr = tercile_thresholds(counts)
    has_few = given[:, torch.from_numpy(counts < few_thr)].any(1)
    P, A = class_confidence(confidence.float(), given)
    pos = given.double()
    wrong = None if true is None else (given & ~true.bool()).double()
    uniform = torch.full((n, ), 1.0 / n, dtype=torch.float64)
    rows = []
    for form in ('uniform', *forms):
        q = uniform if form == 'uniform' else sampling_probs(
            instance_score(given, P, A, form))
        mass = q @ pos  # (K,) mass on instances with a positive of class k
        row = dict(
            form=form,
            few_shot_share=q[has_few].sum().item(),
            few_shot_share_uniform=has_few.double().mean().item(),
            class_ratio={
                c: (m / u).item() if u > 0 else float('nan')
                for c, m, u in zip(names, mass, uniform @ pos)
            })
        if wrong is not None:
            row['wrong_share'] = {
                c: (w / m).item() if m > 0 else float('nan')
                for c, w, m in zip(names, q @ wrong, mass)
            }
        rows.append(row)
    return rows


def format_table(rows, counts=None) -> str:
    """Markdown: a row per class (its given positives, then per form the
    mass ratio to uniform and, where known, the wrong share), and a first
    row with the few-shot share."""
    names = list(rows[0]['class_ratio'])
    has_wrong = 'wrong_share' in rows[0]
    head = ['set', 'given positives'] + [
        r['form'] + (' (x uniform / wrong %)' if has_wrong else ' (x uniform)')
        for r in rows
    ]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    few = ['few-shot instances (share %)', '-'] + [
        f"{100 * r['few_shot_share']:.1f} "
        f"({r['few_shot_share'] / r['few_shot_share_uniform']:.2f}x)"
        for r in rows
    ]
    lines.append('| ' + ' | '.join(few) + ' |')
    for j, c in enumerate(names):
        cells = [c, '-' if counts is None else str(int(counts[j]))]
        for r in rows:
            cell = f"{r['class_ratio'][c]:.2f}"
            if has_wrong:
                cell += f" / {100 * r['wrong_share'][c]:.1f}"
            cells.append(cell)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'config', help='the config the checkpoint was '
        'trained with')
    parser.add_argument('checkpoint', help='a checkpoint of that training')
    parser.add_argument(
        '--forms',
        nargs='+',
        choices=SCORE_FORMS,
        default=list(SCORE_FORMS),
        help='forms of Eq. 3 to compare (default: all)')
    parser.add_argument(
        '--batch-size', type=int, default=256, help='batch size of the pass')
    parser.add_argument('--json', help='also write the rows here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        given, true, classes = load_labels(build_train_set(cfg))
        confidence = predict_train_set(cfg, args.checkpoint, args.batch_size)
    except (LabelStateError, ValueError, RuntimeError, EOFError) as err:
        sys.exit(f'sampler_shares: {err}')
    rows = sampler_shares(given, confidence, args.forms, true, classes)
    print(format_table(rows, given.sum(0)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
