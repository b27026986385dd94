"""benchmarks/label_issues.py: cleanlab's per-label issues as a mask, and
the records' detection figures."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _bench():
    spec = importlib.util.spec_from_file_location(
        'label_issues_bench', osp.join(ROOT, 'benchmarks', 'label_issues.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cleanlab_flags_the_labels_the_model_contradicts():
    pytest.importorskip('cleanlab')
    rng = np.random.default_rng(0)
    true = torch.from_numpy(rng.random((400, 4)) < 0.3)
    wrong = torch.zeros_like(true)
    wrong[:20, 0] = True  # 20 labels of class 0 and 20 of class 2 flipped
    wrong[100:120, 2] = True
    given = true ^ wrong
    # a model that agrees with the true labels
    probs = torch.where(true, 0.95, 0.05).double() + 0.01 * torch.from_numpy(
        rng.random((400, 4)))
    flags = _bench().cleanlab_flags(given, probs.clamp(0, 1))
    assert flags.shape == given.shape and flags.dtype == torch.bool
    assert flags.equal(wrong)


def test_suspected_is_relabeled_or_ambiguous():
    from mmbmix.models.utils.label_refinery import (AMBIGUOUS, CLEAN,
                                                    CONFIRMED, RELABELED)
    state = torch.tensor([[CLEAN, RELABELED, AMBIGUOUS, CONFIRMED]])
    assert _bench().suspected(state).tolist() == [[False, True, True, False]]


def test_another_regimes_cells_and_record_names():
    """--epochs / --num-images / --set reach the robustness run's cell
    folders; the record goes beside that run's report, per variant."""
    bench = _bench()
    args = bench.parse_args([
        '--epochs', '12', '--num-images', '4000', '--set', 'layout=scatter',
        'imbalance_ratio=10', '--balancemix', 'balancemix_disagree'
    ])
    run = bench.run_args(args)
    assert run.epochs == 12 and run.num_images == 4000
    assert run.report_suffix == '_e12_n4000'
    assert bench.rb.store_dir(run).endswith(
        'pretrained-scatter-imbalance_ratio10_fashion-mnist_e12_n4000')
    assert bench.checkpoint(run, 'balancemix_disagree', 'flip40', 1).endswith(
        osp.join('balancemix_disagree', 'flip40', 'seed1', 'work',
                 'epoch_12.pth'))
    assert '4000 images, 12 epochs' in bench.regime_text(run)
    assert 'layout scatter' in bench.regime_text(run)
    # every BalanceMix variant whose cells keep a checkpoint, BCE not
    split = bench.parse_args(['--balancemix', 'balancemix_disagree_alpha1'])
    assert split.balancemix == 'balancemix_disagree_alpha1'
    with pytest.raises(SystemExit):
        bench.parse_args(['--balancemix', 'bce'])
    default = bench.run_args(bench.parse_args([]))
    assert default.report_suffix == '' and default.epochs == 6
