"""benchmarks/memorisation.py: shares of fitted labels on a hand case."""
import importlib.util
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def mem():
    spec = importlib.util.spec_from_file_location(
        'memorisation_bench', osp.join(ROOT, 'benchmarks', 'memorisation.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fitted_shares_hand_case(mem):
    clean = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=torch.bool)
    # row 0: correct; row 1: the positive moved from class 1 to class 2
    given = torch.tensor([[1, 0, 0, 0], [0, 0, 1, 0]], dtype=torch.bool)
    conf = torch.tensor([[0.9, 0.6, 0.1, 0.2], [0.3, 0.2, 0.7, 0.4]])
    out = mem.fitted_shares(conf, given, clean)
    # wrong labels: (1, 1) given 0, predicted 0 -> fitted; (1, 2) given 1,
    # predicted 1 -> fitted
    assert out['wrong'] == 100.0
    assert out['wrong_positive'] == 100.0 and out['wrong_negative'] == 100.0
    # correct: 6 labels, (0, 1) at 0.6 against a given 0 is the one missed
    assert out['correct'] == pytest.approx(500 / 6)
    assert out['correct_positive'] == 100.0
    assert out['correct_negative'] == pytest.approx(80.0)
    assert out['noise_rate'] == 25.0


def test_missing_config_is_a_one_line_error(mem, tmp_path, capsys):
    assert mem.main([str(tmp_path / 'no.py'), str(tmp_path / 'no.pth')]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f'memorisation: no config file {tmp_path / "no.py"}'
