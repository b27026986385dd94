"""benchmarks/robustness.py with a fake cell runner (no training)."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

from mmbmix.utils import hook_cfgs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def rb():
    spec = importlib.util.spec_from_file_location(
        'robustness_bench', osp.join(ROOT, 'benchmarks', 'robustness.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Synthetic mAP: BalanceMix best, BCE worst; the seed adds +-0.5.
BASE = dict(
    bce=50.0,
    mixup=55.0,
    balancemix=70.0,
    bmix_random=56.0,
    bmix_minority=60.0,
    bmix_clean=64.0,
    bmix_relabel=67.0,
    balancemix_online=71.0,
    bmix_random_alpha1=57.0,
    bmix_minority_alpha1=58.0,
    bmix_clean_split=62.0,
    bmix_relabel_split=63.0,
    balancemix_disagree_alpha1=66.0)


def fake_result(spec, epochs=4):
    """What the child would return for ``spec``, made up."""
    mean = BASE[spec['method']] - 5 * ('40' in spec['setting']) + \
        (spec['seed'] - 1) * 0.5
    diag = []
    for e in range(1, epochs + 1):
        rec = dict(
            epoch=e,
            seconds=1.0,
            few_shot_share=0.1 + 0.02 * e,
            few_shot_share_uniform=0.08)
        if spec['method'].startswith('balancemix') and \
                spec['setting'] != 'clean':
            rec.update(
                precision=0.90 + 0.01 * e,
                recall=0.60 + 0.05 * e,
                relabel_proportion=0.01 * e,
                relabel_accuracy=0.95,
                precision_pos=0.80 + 0.01 * e,
                recall_pos=0.70 + 0.05 * e,
                relabel_frac=0.01 * e,
                confirmed_frac=0.02)
        diag.append(rec)
    return dict(
        metrics=dict(
            map_all=mean,
            map_many=mean + 10,
            map_medium=mean,
            map_few=mean - 10),
        epochs=diag,
        train_seconds=12.5,
        # 20% of all labels wrong; 90 of 100 clean positives kept, among
        # 120 given positives
        noise_stats=dict(
            rate_all=0.2, rate_pos=0.1, num_pos_clean=100, num_pos_noisy=120),
        num_epochs=epochs,
        dataset=spec['dataset'],
        num_images=spec['num_images'])


@pytest.fixture
def fake(rb, monkeypatch):
    calls = []

    def run_cell(spec):
        calls.append((spec['method'], spec['setting'], spec['seed']))
        assert spec['epochs'] == 4 and spec['num_images'] == 64
        return fake_result(spec)

    monkeypatch.setattr(rb, 'run_cell', run_cell)
    return calls


def _report(tmp_path, ext):
    # --epochs 4 --num-images 64 is not the quick mode's size: the report
    # is named after it
    return tmp_path / 'out' / f'robustness_quick_e4_n64{ext}'


def _records(tmp_path):
    return json.load(open(_report(tmp_path, '.json')))


def _argv(tmp_path, *extra):
    return [
        '--quick', '--epochs', '4', '--num-images', '64', '--out-dir',
        str(tmp_path / 'out'), '--work-root',
        str(tmp_path / 'work'), *extra
    ]


def test_runs_cells_and_skips_finished(rb, fake, tmp_path):
    argv = _argv(tmp_path, '--methods', 'bce', 'balancemix', '--noise',
                 'clean', 'mislabel40', '--seeds', '0', '1')
    assert rb.main(argv) == 0
    assert len(fake) == 8
    assert set(fake) == {(m, s, k)
                         for m in ('bce', 'balancemix')
                         for s in ('clean', 'mislabel40')
                         for k in (0, 1)}
    # seed-major order: seed 0 complete before seed 1 starts
    assert [c[2] for c in fake] == [0] * 4 + [1] * 4
    # a second run with one more seed only trains the new seed
    fake.clear()
    assert rb.main(argv + ['2']) == 0
    assert sorted(fake) == sorted((m, s, 2) for m in ('bce', 'balancemix')
                                  for s in ('clean', 'mislabel40'))
    records = _records(tmp_path)
    assert len(records) == 12


def test_damaged_cell_result_is_rerun(rb, fake, tmp_path):
    argv = _argv(tmp_path, '--methods', 'bce', '--noise', 'clean', '--seeds',
                 '0')
    rb.main(argv)
    args = rb.parse_args(argv)
    path = rb.result_path(args, rb.Cell('bce', 'clean', 0))
    with open(path, 'w') as f:
        f.write('{"metrics": ')  # as if killed while writing
    fake.clear()
    rb.main(argv)
    assert fake == [('bce', 'clean', 0)]


def test_failed_cell_is_reported_and_retried(rb, monkeypatch, tmp_path,
                                             capsys):

    def run_cell(spec):
        if spec['method'] == 'bce':
            raise rb.CellError('exit code 1; log x.log:\nboom')
        return fake_result(spec)

    monkeypatch.setattr(rb, 'run_cell', run_cell)
    argv = _argv(tmp_path, '--methods', 'bce', 'mixup', '--noise', 'clean',
                 '--seeds', '0')
    assert rb.main(argv) == 1
    md = _report(tmp_path, '.md').read_text()
    assert 'Failed cells' in md and 'bce/clean/seed0' in md
    records = _records(tmp_path)
    assert [r['method'] for r in records] == ['mixup']
    # the failed cell is tried again next time, the finished one is not
    tried = []
    monkeypatch.setattr(
        rb, 'run_cell',
        lambda spec: tried.append(spec['method']) or fake_result(spec))
    assert rb.main(argv) == 0
    assert tried == ['bce']


def test_json_schema(rb, fake, tmp_path):
    rb.main(
        _argv(tmp_path, '--methods', 'bce', 'balancemix', '--noise', 'clean',
              'mislabel40', 'single-positive', '--seeds', '0', '1'))
    records = _records(tmp_path)
    assert len(records) == 2 * 3 * 2
    for r in records:
        assert list(r) == list(rb.RECORD_FIELDS)
        assert r['noise_type'] in ('clean', 'mislabel', 'flip',
                                   'single_positive')
    by = {(r['method'], r['noise_type'], r['seed']): r for r in records}
    bm = by['balancemix', 'mislabel', 1]
    assert bm['noise_rate'] == 0.4
    assert bm['map_all'] == pytest.approx(65.0)
    assert bm['map_few'] == pytest.approx(55.0)
    # last epoch (4) of the label diagnostics
    assert bm['label_precision'] == pytest.approx(0.94)
    assert bm['label_recall'] == pytest.approx(0.80)
    assert bm['relabel_proportion'] == pytest.approx(0.04)
    assert bm['relabel_accuracy'] == pytest.approx(0.95)
    assert bm['train_seconds'] == 12.5
    for key in ('label_precision', 'label_recall', 'relabel_proportion',
                'relabel_accuracy'):
        assert by['bce', 'mislabel', 0][key] is None
        assert by['balancemix', 'clean', 0][key] is None
    assert by['bce', 'clean', 0]['noise_rate'] == 0.0
    assert by['bce', 'single_positive', 0]['noise_rate'] is None
    assert by['bce', 'clean', 0]['map_all'] == pytest.approx(49.5)


def test_markdown_tables(rb, fake, tmp_path):
    methods = ['bce', 'mixup', 'balancemix']
    settings = [
        'clean', 'mislabel20', 'mislabel40', 'flip40', 'single-positive'
    ]
    rb.main(
        _argv(tmp_path, '--methods', *methods, '--noise', *settings, '--seeds',
              '0', '1', '2'))
    md = _report(tmp_path, '.md').read_text()
    for title in ('Table 1', 'Table 2', 'Table 3', 'Table 7',
                  'BalanceMix over BCE'):
        assert title in md
    for m in methods:
        assert rb.METHOD_NAMES[m] in md
    for s in settings:
        assert f'All {rb.SETTINGS[s][3]}' in md
    # mean +- sample std over seeds 0, 1, 2: 70 + {-0.5, 0, 0.5}
    assert '**70.0 ± 0.5**' in md  # BalanceMix, best, bold
    assert '| BCE (default) | 50.0 ± 0.5 |' in md
    assert '**60.0 ± 0.5**' in md  # BalanceMix few-shot, clean
    # gap row: clean 70 - 50 = +20.0 next to the paper's +1.8
    assert ('| clean | 50.0 ± 0.5 | 70.0 ± 0.5 | +20.0 | 83.4 | 85.2 | '
            '+1.8 |') in md
    # Table 7 at 25% (epoch 1), 50% (epoch 2), 100% (epoch 4) of 4 epochs
    row = next(line for line in md.splitlines()
               if line.startswith('| 25% epochs') and '91.0' in line)
    assert '65.0' in row  # recall 0.65 at epoch 1
    assert any(
        line.startswith('| 100% epochs') and '94.0' in line
        for line in md.splitlines())
    # over the given positives (epoch 4: 84%, 90%); decided by Eq. 9:
    # re-labeled 4% + confirmed 2%
    last = [line for line in md.splitlines() if line.startswith('| 100%')]
    assert any('84.0 ± 0.0 | 90.0 ± 0.0' in line for line in last)
    assert any('4.0 ± 0.0 | 6.0 ± 0.0 | 95.0 ± 0.0' in line for line in last)
    # a random selection's precision: 80% over all labels, 90 / 120 over
    # the given positives
    chance = [line for line in md.splitlines() if line.startswith('| chance')]
    assert len(chance) == 2
    assert chance[0].startswith('| chance (share correct) | 80.0 ± 0.0 | – |')
    assert chance[1].startswith('| chance (share correct) | 75.0 ± 0.0 | – |')
    assert 'Table 7: BalanceMix-split' not in md  # no split cells here
    assert 'report written by: `python benchmarks/robustness.py --quick' in md
    assert _report(tmp_path, '_map_vs_noise.png').stat().st_size > 1000
    assert _report(tmp_path, '_few_shot_share.png').stat().st_size > 1000


def test_headline_and_targets_tables(rb, fake, tmp_path):
    rb.main(
        _argv(tmp_path, '--methods', 'balancemix_online', '--noise',
              'mislabel40', '--seeds', '1'))
    rb.main(
        _argv(tmp_path, '--methods', 'bce', 'mixup', 'balancemix', '--noise',
              'mislabel40', 'flip40', '--seeds', '0', '1', '2'))
    md = _report(tmp_path, '.md').read_text()
    assert '| Method | mislabel 40% | flip 40% |' in md
    assert '| BCE + Mixup | 50.0 ± 0.5 | 50.0 ± 0.5 |' in md
    assert '| BalanceMix | **65.0 ± 0.5** | **65.0 ± 0.5** |' in md
    # one seed of the variant, marked; not ranked, so not bold
    assert "| BalanceMix, `stats_source='online'` | 66.0 (1) | – |" in md
    # BalanceMix 65 against the best other method (mixup 50); few-shot 55
    assert '| best all-class mAP, mislabel 40% | 65.0 | 50.0 (BCE + Mixup)' \
        ' | yes |' in md
    assert '| best few-shot mAP, flip 40% | 55.0 | 40.0 (BCE + Mixup) |' \
        ' yes |' in md
    assert '| all-class mAP >= BCE, flip 40% | 65.0 | 45.0 (BCE) | yes |' \
        in md
    # last epoch (4): precision 0.94, recall 0.80, re-label accuracy 0.95
    assert '| label precision, mislabel 40% | 94.0% | 94% (target) | yes |' \
        in md
    assert '| label recall, mislabel 40% | 80.0% | 90% (target) | no |' in md
    assert '| re-label accuracy, mislabel 40% | 95.0% | 95% (target) |' \
        ' yes |' in md


def test_ablation_table(rb, fake, tmp_path):
    rb.main(
        _argv(tmp_path, '--methods', 'bce', '--noise', 'clean', '--seeds', '0',
              '--ablation', '--ablation-noise', 'clean', 'mislabel40'))
    assert len(fake) == 2 * 6  # BCE, 4 variants, BalanceMix
    md = _report(tmp_path, '.md').read_text()
    assert 'Table 5' in md
    # clean: 55.5, 59.5 (+4.0), ... ; average of clean and mislabel 40%
    assert '| + Minority sampler (Eq. 4) | 59.5 (+4.0) | 54.5 (+4.0) | ' \
        '57.0 (+4.0) |' in md
    assert '| + Ambiguous labels (Eq. 10) | 69.5 (+3.0) |' in md


def test_ablation_table_uses_the_seeds_every_row_has(rb, fake, tmp_path):
    """BCE and BalanceMix at seeds 0-2, the variants at seed 0: every row
    of Table 5 is the seed-0 figure, not a mean over other seeds."""
    rb.main(
        _argv(tmp_path, '--methods', 'bce', 'balancemix', '--noise', 'clean',
              '--seeds', '0', '1', '2'))
    rb.main(
        _argv(tmp_path, '--seeds', '0', '--ablation', '--ablation-noise',
              'clean', '--methods', 'bce', '--noise', 'clean'))
    md = _report(tmp_path, '.md').read_text()
    # seed 0 adds -0.5: BCE 49.5 (over seeds 0-2 it would be 50.0)
    assert '| Default (BCE loss) | 49.5 | 49.5 |' in md
    assert '| + Ambiguous labels (Eq. 10) | 69.5 (+3.0) | 69.5 (+3.0) |' \
        in md
    assert '| seeds | 0 |  |' in md


def test_split_ablation_table(rb, fake, tmp_path):
    """Table 5 of BalanceMix-split: its own rows (alpha 1, the split
    rule), beside the paper's table, which has no step here."""
    split_rows = [m for m, _ in rb.SPLIT_ABLATION_ROWS]
    assert split_rows[-1] == 'balancemix_disagree_alpha1'
    for m in ('bmix_random_alpha1', 'bmix_clean_split', 'bmix_relabel_split'):
        assert rb.VARIANTS[m]['data_preprocessor']['mix']['alpha'] == 1.0
    assert rb.VARIANTS['bmix_random_alpha1']['use_minority_sampler'] is False
    for m in ('bmix_clean_split', 'bmix_relabel_split'):
        assert rb.VARIANTS[m]['gmm'] == dict(split='disagree')
    assert rb.VARIANTS['bmix_clean_split']['use_relabel'] is False
    assert rb.VARIANTS['bmix_relabel_split']['use_ambiguous'] is False
    rb.main(
        _argv(tmp_path, '--methods', *split_rows, '--noise', 'mislabel40',
              '--seeds', '0'))
    md = _report(tmp_path, '.md').read_text()
    assert '## Table 5: component' not in md
    assert '## Table 5 of BalanceMix-split' in md
    # mislabel 40%: 5 below BASE, seed 0 another 0.5 below
    assert '| + Random sampler (= Mixup, alpha 1) | 51.5 (+7.0) | ' \
        '51.5 (+7.0) |' in md
    assert '| + Clean labels (Eq. 8, split rule) | 56.5 (+4.0) |' in md
    assert '| + Ambiguous labels (Eq. 10): BalanceMix-split | 60.5 (+3.0) |' \
        in md
    assert '## Table 7: BalanceMix-split clean-label selection' in md
    assert '## Table 7: BalanceMix clean' not in md  # no paper's-rule cell


def test_ablation_table_with_a_step_not_run(rb, fake, tmp_path):
    """A step with no cell shows '-', the others keep their figures and
    the next step's gain is over the last row with one."""
    rows = [m for m, _ in rb.SPLIT_ABLATION_ROWS if m != 'bmix_random_alpha1']
    rb.main(
        _argv(tmp_path, '--methods', *rows, '--noise', 'mislabel40', '--seeds',
              '0'))
    md = _report(tmp_path, '.md').read_text()
    assert '| + Random sampler (= Mixup, alpha 1) | – | – |' in md
    # minority 58 - 5.5 = 52.5, over BCE's 44.5
    assert '| + Minority sampler (Eq. 4) | 52.5 (+8.0) | 52.5 (+8.0) |' in md
    assert '| seeds | 0 |  |' in md


def test_every_variant_builds_its_label_manager(rb):
    """Each variant's switches are arguments the hook takes (a misspelt
    one would fail every cell of it), and land on its manager."""
    from mmpretrain.registry import HOOKS

    import mmbmix  # noqa: F401
    for name, over in rb.VARIANTS.items():
        over = {
            k: v
            for k, v in over.items()
            if k not in ('data_preprocessor', 'custom_hooks')
        }
        manager = HOOKS.build(dict(type='LabelManagerHook', **over)).manager
        for key, value in over.items():
            if key in ('stats_source', 'num_views', 'sparse'):
                continue  # the hook's own, not the manager's
            got = getattr(manager, key)
            if isinstance(value, dict):  # gmm: merged into its defaults
                assert {k: got[k] for k in value} == value, name
            else:
                assert got == value, (name, key)
    split_cleanpos = HOOKS.build(
        dict(
            type='LabelManagerHook',
            gmm=dict(split='disagree'),
            clean_positives=True)).manager
    assert split_cleanpos.clean_positives is True
    assert split_cleanpos.gmm['split'] == 'disagree'


def test_stats_source_table_and_command_history(rb, fake, tmp_path):
    """A later command adding balancemix_online cells keeps the earlier
    cells in the report, and both commands are listed."""
    rb.main(
        _argv(tmp_path, '--methods', 'bce', 'balancemix', '--noise', 'flip40',
              '--seeds', '0', '1'))
    rb.main(
        _argv(tmp_path, '--methods', 'balancemix_online', '--noise', 'flip40',
              '--seeds', '0', '1'))
    md = _report(tmp_path, '.md').read_text()
    assert md.count('- cells run by:') == 2
    assert 'BalanceMix variants' in md
    # seeds 0, 1: 65 - 0.25 = 64.75 and 66 - 0.25; last-epoch precision 94%
    assert '| flip 40% | BalanceMix (defaults) | 0 1 | 64.8 ± 0.4 | ' \
        '54.8 ± 0.4 | 94.0 ± 0.0 | 80.0 ± 0.0 | 12.5 ± 0.0 |' in md
    assert "| flip 40% | stats_source='online' | 0 1 | 65.8 ± 0.4 |" in md
    records = _records(tmp_path)
    assert {r['method']
            for r in records} == {'bce', 'balancemix', 'balancemix_online'}
    # Tables 1-3 list the methods only, not the variant
    assert '| BalanceMix |' in md and '| balancemix_online' not in md


def test_report_only(rb, fake, tmp_path):
    argv = _argv(tmp_path, '--methods', 'bce', 'balancemix', '--noise',
                 'clean', 'flip20', '--seeds', '0')
    rb.main(argv)
    out = tmp_path / 'out'
    for f in out.iterdir():
        if f.is_file():  # the reports; the cell results stay in out/cells
            f.unlink()
    fake.clear()
    assert rb.main(argv + ['--report-only']) == 0
    assert fake == []  # nothing trained
    records = json.load(open(out / 'robustness_quick_e4_n64.json'))
    assert {(r['method'], r['noise_type'])
            for r in records} == {('bce', 'clean'), ('bce', 'flip'),
                                  ('balancemix', 'clean'),
                                  ('balancemix', 'flip')}
    md = (out / 'robustness_quick_e4_n64.md').read_text()
    assert 'Table 2' in md and 'All flip 20%' in md
    assert '--report-only' in md
    # full mode has its own cell folder: nothing to report there
    with pytest.raises(SystemExit, match='no finished cell'):
        rb.main([a for a in argv if a != '--quick'] + ['--report-only'])


def test_cell_config_overrides(rb, tmp_path):
    """The child's config: seed, images, epochs, scaled schedules, switches
    (no training)."""
    args = rb.parse_args(_argv(tmp_path, '--num-workers', '0'))
    spec = rb.cell_spec(args, rb.Cell('bmix_clean', 'mislabel40', 2))
    cfg = rb.build_cell_config(spec)
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'LabelNoiseDataset' and ds.seed == 2
    assert ds.dataset.num_images == 64 and ds.dataset.source == 'digits'
    assert cfg.randomness.seed == 2
    assert cfg.train_cfg.max_epochs == 4 and cfg.train_cfg.val_interval == 4
    assert cfg.param_scheduler.T_max == 4 and cfg.param_scheduler.end == 4
    assert cfg.default_hooks.checkpoint is None
    (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
    assert hook.warmup_epochs == 1  # 3 of 12 epochs -> 1 of 4
    assert hook.use_relabel is False and hook.use_ambiguous is False
    # shot groups at the terciles of the built split's class counts: 3 / 4
    # / 3 classes, the same for the evaluator and the sampler's share
    counts = np.asarray(cfg.val_evaluator.class_counts)
    many, few = hook.shot_thresholds
    assert tuple(cfg.val_evaluator.shot_thresholds) == (many, few)
    assert (counts > many).sum() == 3 and (counts < few).sum() == 3
    assert many == pytest.approx(np.quantile(counts, 2 / 3))
    # a variant of the mixing reaches the data preprocessor, not the hook
    spec = rb.cell_spec(args, rb.Cell('balancemix_perhalf', 'flip40', 0))
    cfg = rb.build_cell_config(spec)
    assert cfg.data_preprocessor.label_weighting == 'per_half'
    (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
    assert 'data_preprocessor' not in hook and 'label_weighting' not in hook
    spec = rb.cell_spec(args, rb.Cell('llr', 'clean', 0))
    loss = rb.build_cell_config(spec).model.head.loss
    assert loss.delta_rel == pytest.approx(0.01 * 11 / 3)
    spec = rb.cell_spec(args, rb.Cell('coteaching', 'flip40', 0))
    model = rb.build_cell_config(spec).model
    assert model.num_gradual == 2 and model.forget_rate == 0.4


def test_report_regroups_per_class_ap_at_the_terciles(rb, tmp_path):
    """At imbalance ratio 10 the fixed thresholds of earlier cells left the
    few-shot group empty; the report recomputes many / medium / few-shot
    mAP from each cell's per-class AP at the terciles of the class
    counts."""
    args = rb.parse_args([
        '--work-root',
        str(tmp_path), '--out-dir',
        str(tmp_path / 'out'), '--num-images', '400', '--set',
        'imbalance_ratio=10'
    ])
    cell = rb.Cell('bce', 'clean', 0)
    counts = np.asarray(
        rb.build_cell_config(rb.cell_spec(args,
                                          cell)).val_evaluator.class_counts)
    ap = {f'multi-label/AP/c{k}': 10.0 * k for k in range(10)}
    result = dict(metrics=dict(map_all=45.0, map_few=None), per_class_ap=ap)
    rb.regroup_by_terciles(args, [(cell, result)])
    order = np.argsort(counts)  # rarest first
    assert result['metrics']['map_few'] == pytest.approx(10.0 *
                                                         order[:3].mean())
    assert result['metrics']['map_many'] == pytest.approx(10.0 *
                                                          order[-3:].mean())
    assert result['metrics']['map_medium'] == pytest.approx(10.0 *
                                                            order[3:7].mean())
    assert result['metrics']['map_all'] == 45.0


def test_class_order_lever_reorders_the_train_split_only(rb, tmp_path):
    """``--set class_order=confusable_rare``: shirt (class 6) gets the
    fewest train positives and trouser (class 1) the most; the evaluators'
    counts follow; the test split and the run folder say so."""
    args = rb.parse_args([
        '--work-root',
        str(tmp_path), '--out-dir',
        str(tmp_path / 'out'), '--num-images', '400', '--set',
        'imbalance_ratio=10', 'class_order=confusable_rare'
    ])
    cfg = rb.build_cell_config(rb.cell_spec(args, rb.Cell('bce', 'clean', 0)))
    counts = np.asarray(cfg.val_evaluator.class_counts)
    assert counts.argmin() == 6 and counts.argmax() == 1
    assert counts.max() / counts.min() == pytest.approx(10, rel=0.1)
    train = cfg.train_dataloader.dataset
    train = train.get('dataset', train)  # inside LabelNoiseDataset
    assert train.class_order[-1] == 'shirt'
    assert 'class_order' not in cfg.val_dataloader.dataset
    assert '-class_orderconfusable_rare' in rb.run_name(args)
    assert args.report_suffix == '_e6_n400_confusable_rare'
    with pytest.raises(
            ValueError, match='class_order takes one of '
            'confusable_rare'):
        rb.parse_levers(['class_order=shirt_first'])


@pytest.mark.parametrize('method', [
    'bce', 'mixup', 'asl', 'coteaching', 'llr', 'llct', 't_estimator',
    'balancemix'
])
def test_pretrained_regime_swaps_model_data_and_schedule_only(
        rb, tmp_path, method):
    """The pretrained regime (the default): ImageNet EfficientNet-Lite0 on
    the 64 px fashion mosaic, lr 0.01, 6 epochs; the method stays."""
    args = rb.parse_args([
        '--work-root',
        str(tmp_path), '--out-dir',
        str(tmp_path / 'out'), '--num-workers', '0'
    ])
    assert args.regime == 'pretrained' and args.epochs == 6
    assert args.num_images == 2000 and args.dataset == 'fashion-mnist'
    spec = rb.cell_spec(args, rb.Cell(method, 'single-positive', 1))
    assert spec['regime'] == 'pretrained'
    scratch = rb.build_cell_config(dict(spec, regime='scratch'))
    cfg = rb.build_cell_config(spec)
    assert cfg.model.backbone.type == 'TIMMBackbone'
    assert cfg.model.backbone.init_cfg.checkpoint == \
        'efficientnet-lite://lite0'
    assert cfg.model.head.in_channels == 1280
    assert cfg.data_preprocessor.mean == [127.5] * 3
    assert cfg.data_preprocessor.get('type') == \
        scratch.data_preprocessor.get('type')
    inner = cfg.train_dataloader.dataset.dataset
    assert inner.tile_size == 32 and inner.seed == 0 and inner.layout == 'free'
    assert cfg.train_dataloader.dataset.seed == 1  # the noise's seed
    assert not any(t['type'] == 'RandAugment' for t in inner.pipeline)
    assert cfg.val_dataloader.dataset.tile_size == 32
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_cfg.max_epochs == 6 and cfg.param_scheduler.T_max == 6
    assert cfg.model.type == scratch.model.type
    assert cfg.model.head.type == scratch.model.head.type
    assert cfg.model.head.loss == scratch.model.head.loss
    assert cfg.model.get('train_cfg') == scratch.model.get('train_cfg')
    if method == 'balancemix':
        (hook, ) = hook_cfgs(cfg, 'LabelManagerHook')
        assert hook.warmup_epochs == 2 and hook.relabel_threshold == 0.55
    if method == 't_estimator':  # 3 of 12 epochs -> 2 of 6
        (hook, ) = hook_cfgs(cfg, 'TEstimatorHook')
        assert hook.warmup_epochs == 2


@pytest.mark.parametrize('method', ['bce', 'balancemix'])
@pytest.mark.parametrize('setting', ['clean', 'flip40', 'single-positive'])
def test_pretrained_cells_train_what_the_lite0_configs_say(
        rb, tmp_path, method, setting):
    """A pretrained-regime cell trains what its config under
    configs/<method>/*_efficientnet-lite0_*_mosaic-fashion-mnist-64px* says
    (the README's results table links those configs)."""
    args = rb.parse_args(['--work-root', str(tmp_path), '--num-workers', '0'])
    spec = rb.cell_spec(args, rb.Cell(method, setting, 0))
    cell = rb.build_cell_config(spec)
    suffix = rb.SETTINGS[setting][2]
    path = osp.join(
        ROOT, 'configs', method, f'{method}_efficientnet-lite0_1xb32_'
        f'mosaic-fashion-mnist-64px{suffix}.py')
    direct = rb.build_cell_config(dict(spec, config=path, regime='scratch'))
    for key in ('model', 'data_preprocessor', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'val_evaluator'):
        assert cell[key] == direct[key], key
    for key in ('train_dataloader', 'val_dataloader'):
        assert cell[key].dataset == direct[key].dataset, key
        assert cell[key].get('batch_sampler') == \
            direct[key].get('batch_sampler'), key
    assert hook_cfgs(cell,
                     'LabelManagerHook') == hook_cfgs(direct,
                                                      'LabelManagerHook')


def test_restored_cells_are_retrained_on_request(rb, fake, tmp_path):
    argv = _argv(tmp_path, '--methods', 'bce', '--noise', 'clean', 'flip20',
                 '--seeds', '0')
    rb.main(argv)
    args = rb.parse_args(argv)
    path = rb.result_path(args, rb.Cell('bce', 'flip20', 0))
    result = json.load(open(path))
    result['restored_from'] = 'a summary'
    json.dump(result, open(path, 'w'))
    fake.clear()
    rb.main(argv)  # a restored result counts as done
    assert fake == []
    rb.main(argv + ['--retrain-restored'])
    assert fake == [('bce', 'flip20', 0)]
    assert 'restored_from' not in json.load(open(path))


def test_a_size_other_than_the_mode_reports_beside_it(rb):
    """--epochs 12 on the pretrained mode must not overwrite the headline
    robustness.md (6 epochs x 2000 images)."""
    assert rb.parse_args([]).report_suffix == ''
    assert rb.parse_args(['--epochs', '6']).report_suffix == ''
    assert rb.parse_args(['--epochs', '12']).report_suffix == '_e12_n2000'
    assert rb.parse_args(['--quick', '--num-images',
                          '64']).report_suffix == '_e3_n64'


def _cells(method, setting, maps):
    return [
        dict(method=method, setting=setting, seed=i, metrics=dict(map_all=m))
        for i, m in enumerate(maps)
    ]


def test_rule_verdict_by_hand(rb):
    v = 'balancemix_disagree'
    results = [
        *_cells('balancemix', 'clean', (79, 80, 81)),
        *_cells(v, 'clean', (83, 84, 85)),  # +4 > std 1; BCE 82
        *_cells('bce', 'clean', (82, 82, 82)),
        *_cells('balancemix', 'mislabel40', (50, 55, 60)),
        *_cells(v, 'mislabel40', (58, 60, 62)),  # +5, not above std 5
        *_cells('bce', 'mislabel40', (70, 70, 70)),
        *_cells('balancemix', 'flip40', (20, 21, 22)),
        *_cells(v, 'flip40', (30, 31, 32)),  # +10; 31 > BCE 30
        *_cells('bce', 'flip40', (30, 30, 30)),
        *_cells('balancemix', 'single-positive', (60, )),
        *_cells(v, 'single-positive', (70, )),
    ]
    verdict = rb.rule_verdict(results, v)
    rows = verdict['settings']
    assert rows['clean']['diff'] == pytest.approx(4.0)
    assert rows['clean']['spread'] == pytest.approx(1.0)
    assert rows['mislabel40']['spread'] == pytest.approx(5.0)
    assert [rows[s]['above_spread'] for s in rb.DECISION_SETTINGS] == \
        [True, False, True, None]
    assert [rows[s]['beats_bce'] for s in rb.DECISION_SETTINGS] == \
        [True, False, True, None]
    # 2 above the spread and 2 over BCE with one setting open: undecided
    assert (verdict['above'], verdict['beats_bce'],
            verdict['family']) == (2, 2, None)
    md = '\n'.join(
        rb._decision_table(results +
                           _cells('bmix_minority_alpha1', 'clean', (80, ))))
    assert 'alpha 1' not in md  # no label management: not a rule
    assert "| gmm split='disagree' | single positive | 60.0 (1) | " \
        '70.0 (1) | – | +10.0 | – | ? | ? |' in md
    assert "| gmm split='disagree' | **rule** |  |  |  |  |  | 2 of 4 | " \
        '2 of 4 -> open |' in md
    full = results + _cells('balancemix', 'single-positive', (60.5, 61)) + \
        _cells(v, 'single-positive', (70, 70)) + \
        _cells('bce', 'single-positive', (75, 75, 75))
    assert rb.rule_verdict(full, v)['family'] is True
    assert '2 of 4 -> **met**' in '\n'.join(rb._decision_table(full))
    # BCE ahead in every setting left: the rule can no longer be met
    lost = [r for r in results if r['method'] != 'bce'] + \
        _cells('bce', 'clean', (90, 90, 90)) + \
        _cells('bce', 'flip40', (40, 40, 40))
    # BCE open at mislabel 40% and single positive: undecided
    assert rb.rule_verdict(lost, v)["family"] is None
    lost += _cells('bce', 'single-positive', (99, 99, 99)) + \
        _cells(v, 'single-positive', (70, 70))
    assert rb.rule_verdict(lost, v)['family'] is False


def test_best_epoch_table(rb):
    """Last / best validated mAP, means over seeds, and each seed's best
    epoch; a method without a validation history has no row."""

    def cell(method, seed, maps):
        return dict(
            method=method,
            setting='mislabel40',
            seed=seed,
            val_history=[{
                'epoch': 3 * (i + 1),
                'multi-label/mAP': v
            } for i, v in enumerate(maps)])

    results = [
        cell('bce', 0, [60.0, 70.0, 66.0]),  # best at 6, falls to 66
        cell('bce', 1, [61.0, 65.0, 68.0]),  # best at the last epoch
        dict(method='mixup', setting='mislabel40', seed=0, val_history=[])
    ]
    lines = rb._best_epoch_table(results, ['bce', 'mixup'])
    assert lines[0].startswith('## Last epoch against best epoch')
    # last (66 + 68) / 2 = 67.0, best (70 + 68) / 2 = 69.0
    assert '| BCE (default) | 67.0 / 69.0 (6,9) |' in lines
    assert not any(line.startswith('| Mixup') for line in lines)
    assert rb._best_epoch_table(results[2:], ['mixup']) == []
