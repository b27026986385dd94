"""Where the label manager's clean-label selection goes wrong, set by set.

Reads a BalanceMix checkpoint's label state (``LabelManagerHook``) and the
training set of its config, and prints, over all labels, over the given
positive and the given negative labels, and for each of the 2K sets the
mixtures are fit to (class k's given positives / negatives): the share of
labels selected clean, re-labeled and ambiguous, and the mean p_G (Eq. 8).
Where the training set knows its clean labels (``LabelNoiseDataset``) also
label precision and recall (Eq. 12), re-label proportion and accuracy
(Eq. 13), each set's noise rate and how many wrong labels it had selected
as clean. Figures whose denominator is empty print as ``n.a.`` (left out of
``--json``).

With ``--refit``, the label state is not read from the checkpoint but made
from it: the checkpoint's model (any mmpretrain multi-label classifier, e.g.
a BCE or Mixup baseline) predicts every training instance once, with the
test pipeline, and the ``LabelManager`` of the config's ``LabelManagerHook``
(its defaults where the config has none) applies Eq. 6-9 to those
confidences, exactly as it does at the end of a training epoch (one
un-augmented view instead of two
augmented ones). It answers "what would the label manager select from this
model?", e.g. to tell the selection rule from the model it is given.

Usage:
    python tools/analysis_tools/label_diagnostics.py CONFIG CHECKPOINT \
        [--refit] [--json OUT.json]
"""
import argparse
import json
import sys

import torch
from mmengine.config import Config, DictAction

import mmbmix  # noqa: F401  (registers the datasets)
from mmbmix.apis import (STATE_KEY, LabelStateError, build_train_set,
                         load_label_state)
from mmbmix.apis import load_labels as _dataset_labels
from mmbmix.apis import predict_train_set, refit_label_state, saved_per_batch
from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN, RELABELED,
                                                label_diagnostics,
                                                label_weights)

__all__ = [
    'STATE_KEY', 'build_train_set', 'load_label_state', 'predict_train_set',
    'refit_label_state', 'load_labels', 'set_diagnostics', 'main'
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'config', help='the config the checkpoint was '
        'trained with')
    parser.add_argument('checkpoint', help='a checkpoint of that training')
    parser.add_argument(
        '--refit',
        action='store_true',
        help='make the label state from the checkpoint\'s model (one pass '
        'over the training set, then the config\'s LabelManagerHook rule) '
        'instead of reading it from the checkpoint')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=256,
        help='batch size of the --refit pass')
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings as in tools/train.py (e.g. the '
        'label manager options the run was trained with, for --refit)')
    return parser.parse_args(argv)


def load_config(cfg_path: str, options=None) -> Config:
    cfg = Config.fromfile(cfg_path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def load_labels(cfg_path, options=None):
    """Given and clean ``(N, K)`` label matrices of the training set (clean:
    None where the training set does not know them); ``cfg_path`` a path or
    a loaded Config."""
    cfg = cfg_path if isinstance(cfg_path, Config) else load_config(
        cfg_path, options)
    given, true, classes = _dataset_labels(build_train_set(cfg))
    return given, true, classes


def mixing_masses(weights, sampling_probs, mean_lambda, per_half=False):
    """Expected training mass ``(N, K)`` each label gets in an epoch through
    the random half and through the minority half of Eq. 5.

    A mixed target ``lam y_R + (1 - lam) y_M`` trained at weight ``w`` has
    the gradient ``w lam (f - y_R) + w (1 - lam) (f - y_M)``: label (i, k)
    gets ``E[lam] w_ik`` as a random instance (drawn once an epoch) and
    ``(1 - E[lam]) N q_i w'_k`` as a minority instance (drawn ``N q_i``
    times), where ``w'_k`` is the random partner's weight, ``mean_i w_ik``
    (the paper), or its own ``w_ik`` with ``per_half``.

    Args:
        weights (Tensor): ``(N, K)`` Eq. 10 weights.
        sampling_probs (Tensor): ``(N,)`` minority sampler's ``q`` (Eq. 4).
        mean_lambda (float): ``E[lam]`` of the mixer.
        per_half (bool): ``label_weighting='per_half'``. Defaults to False.

    Returns:
        tuple[Tensor, Tensor]: the random and the minority masses.
    """
    w = weights.float()
    partner = w if per_half else w.mean(0, keepdim=True).expand_as(w)
    q = sampling_probs.float().view(-1, 1)
    return mean_lambda * w, (1 - mean_lambda) * w.size(0) * q * partner


def set_diagnostics(given,
                    true,
                    label_state,
                    refined,
                    classes=None,
                    p_clean=None,
                    mixing=None) -> list:
    """Rows of figures: all labels, given positives, given negatives, then
    class k's given positives and negatives for every k (named
    ``'<classes[k]> +'`` / ``'-'``, or ``'class k +'`` without names).
    ``true`` None (real data): the label states and mean ``p_G`` only.
    With both ``true`` and ``p_clean``, what each set trains on (Eq. 10
    weights): ``weight_on_wrong``, the share of the set's training weight
    on a wrong target (BCE's: the set's noise rate), and
    ``correct_weight_kept``, the mean weight of its correct labels (BCE:
    1), and ``weight_relabeled``, its share on labels Eq. 9 changed.
    ``mixing`` (``dict(sampling_probs, mean_lambda, per_half)``, see
    :func:`mixing_masses`) adds what the mixed batches train on:
    ``minority_share`` (share of the set's training mass that comes through
    the minority half) and ``mixed_on_wrong`` (``weight_on_wrong`` over both
    halves)."""
    if label_state.shape != given.shape:
        raise ValueError(f'the checkpoint\'s label state '
                         f'is {tuple(label_state.shape)} but the training '
                         f'set has {tuple(given.shape)} labels')
    clean, relabeled = label_state == CLEAN, label_state == RELABELED
    weights = None if p_clean is None else label_weights(
        label_state, p_clean)  # Eq. 10, every switch on
    masses = None if weights is None or mixing is None else mixing_masses(
        weights, **mixing)

    def row(name, mask):
        figs = dict(set=name, labels=int(mask.sum()))
        if not mask.any():
            return figs
        for key, code in (('clean_fraction', CLEAN), ('relabeled_fraction',
                                                      RELABELED),
                          ('ambiguous_fraction', AMBIGUOUS)):
            figs[key] = (label_state[mask] == code).float().mean().item()
        if p_clean is not None:
            figs['mean_p_clean'] = p_clean[mask].float().mean().item()
        if true is None:
            return figs
        wrong = given[mask] != true[mask]
        if weights is not None:  # what the set's class learns from
            w, right = weights[mask], refined[mask] == true[mask]
            figs['weight_on_wrong'] = (w * ~right).sum().item() / max(
                w.sum().item(), 1e-12)
            figs['correct_weight_kept'] = w[~wrong].mean().item() \
                if (~wrong).any() else None
            if figs['correct_weight_kept'] is None:
                del figs['correct_weight_kept']
            figs['weight_relabeled'] = (w * relabeled[mask]).sum().item() / \
                max(w.sum().item(), 1e-12)
            if masses is not None:
                r, m = masses[0][mask], masses[1][mask]
                total = max((r + m).sum().item(), 1e-12)
                figs['minority_share'] = m.sum().item() / total
                figs['mixed_on_wrong'] = (
                    (r + m) * ~right).sum().item() / total
        figs.update(
            noise=wrong.float().mean().item(),
            wrong_selected=int((clean[mask] & wrong).sum()),
            **label_diagnostics(given[mask], true[mask], clean[mask],
                                relabeled[mask], refined[mask]))
        return figs

    everything = torch.ones_like(given)
    rows = [
        row('all', everything),
        row('given positive', given),
        row('given negative', ~given)
    ]
    for k in range(given.size(1)):
        name = classes[k] if classes else f'class {k}'
        column = torch.zeros_like(given)
        column[:, k] = True
        rows += [
            row(f'{name} +', column & given),
            row(f'{name} -', column & ~given)
        ]
    return rows


COLUMNS = (('clean_fraction', 'selected clean %'), ('relabeled_fraction',
                                                    're-labeled %'),
           ('ambiguous_fraction', 'ambiguous %'), ('mean_p_clean',
                                                   'mean p_G %'), ('noise',
                                                                   'noise %'),
           ('weight_on_wrong',
            'weight on wrong targets %'), ('correct_weight_kept',
                                           'correct labels\' weight kept %'),
           ('weight_relabeled',
            'weight on re-labeled %'), ('minority_share',
                                        'mass from the minority half %'),
           ('mixed_on_wrong', 'mixed: weight on wrong targets %'),
           ('precision', 'precision %'), ('recall', 'recall %'),
           ('wrong_selected', 'wrong labels selected'), ('relabel_accuracy',
                                                         're-label acc. %'))


def format_table(rows) -> str:
    """Markdown; the columns any row has, ``n.a.`` where a row has none."""
    cols = [(k, h) for k, h in COLUMNS if any(k in r for r in rows)]

    def cell(r, k):
        v = r.get(k)
        return 'n.a.' if v is None else str(v) if isinstance(
            v, int) else f'{100 * v:.1f}'

    lines = [
        '| set | labels | ' + ' | '.join(h for _, h in cols) + ' |',
        '| --- ' * (len(cols) + 2) + '|'
    ]
    for r in rows:
        lines.append(f"| {r['set']} | {r['labels']} | " +
                     ' | '.join(cell(r, k) for k, _ in cols) + ' |')
    return '\n'.join(lines)


def mixing_of(cfg, sampling_probs):
    """:func:`mixing_masses`'s arguments for a BalanceMix config (its
    ``BalanceMixDataPreprocessor``'s mixer and label weighting), or None
    (no mixing, or no minority sampler)."""
    # the Runner's rule: the model's own, else the top-level one
    pre = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    if sampling_probs is None or pre.get('type') not in (
            'BalanceMixDataPreprocessor', 'mmbmix.BalanceMixDataPreprocessor'):
        return None
    from mmpretrain.registry import MODELS
    mixer = MODELS.build(pre.get('mix', dict(type='MinorityMixup', alpha=4.0)))
    return dict(
        sampling_probs=sampling_probs,
        mean_lambda=mixer.mean_lambda(),
        per_half=pre.get('label_weighting', 'random') == 'per_half')


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        given, true, classes = load_labels(cfg)
        if not args.refit and saved_per_batch(args.checkpoint):
            print(f'{args.checkpoint}: saved by the per-batch label manager '
                  '(no per-label state): the label state is made from its '
                  'model, as with --refit')
            args.refit = True
        if args.refit:
            state = refit_label_state(
                cfg, given,
                predict_train_set(cfg, args.checkpoint, args.batch_size),
                args.checkpoint)
            label_state, refined = state.label_state, state.refined_labels
            p_clean, probs = state.p_clean, state.sampling_probs
        else:
            state = load_label_state(args.checkpoint)
            label_state, refined = state['label_state'], state[
                'refined_labels']
            p_clean, probs = state.get('p_clean'), state.get('sampling_probs')
        rows = set_diagnostics(given, true, label_state, refined.bool(),
                               classes, p_clean, mixing_of(cfg, probs))
    except (LabelStateError, ValueError, RuntimeError, EOFError) as err:
        sys.exit(f'label_diagnostics: {err}')
    print(format_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
