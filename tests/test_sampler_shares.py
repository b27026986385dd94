"""tools/analysis_tools/sampler_shares.py: the minority sampler's mass per
class and on few-shot instances, form by form of Eq. 3 (hand case)."""
import importlib.util
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'sampler_shares.py')
CFG = osp.join(ROOT, 'configs', 'balancemix',
               'balancemix_resnet-small_1xb32_mosaic-digits-32px_flip40.py')


def _tool():
    spec = importlib.util.spec_from_file_location('sampler_shares', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _case():
    # class 0 on instances 0-2, class 1 (few-shot: 1 < first tercile 5/3)
    # on instance 3; instance 0's class-0 positive is wrong
    given = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=torch.bool)
    true = given.clone()
    true[0, 0] = False
    conf = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.5, 0.2]])
    return given, true, conf


def test_shares_by_hand():
    given, true, conf = _case()
    rows = {
        r['form']: r
        for r in _tool().sampler_shares(given, conf, ('literal',
                                                      'min'), true, ('a', 'b'))
    }
    # Eq. 2: P = (0.9, 0.2), A = (0.5, 0.9)
    uni = rows['uniform']
    assert uni['few_shot_share'] == pytest.approx(0.25)
    assert uni['class_ratio'] == pytest.approx(dict(a=1.0, b=1.0))
    assert uni['wrong_share']['a'] == pytest.approx(1 / 3)
    # min: scores 0.9, 0.9, 0.9, 0.2 -> q_3 = 5 / (3 / 0.9 + 5) = 0.6
    mn = rows['min']
    assert mn['few_shot_share'] == pytest.approx(0.6)
    assert mn['few_shot_share_uniform'] == pytest.approx(0.25)
    assert mn['class_ratio']['b'] == pytest.approx(0.6 / 0.25)
    assert mn['class_ratio']['a'] == pytest.approx(0.4 / 0.75)
    assert mn['wrong_share']['a'] == pytest.approx(1 / 3)
    # literal: scores 1.8 x 3 and 0.7 -> q_3 = (1 / 0.7) / (3 / 1.8 + 1 / 0.7)
    q3 = (1 / 0.7) / (3 / 1.8 + 1 / 0.7)
    assert rows['literal']['few_shot_share'] == pytest.approx(q3)


def test_table_names_every_form_and_class():
    given, true, conf = _case()
    tool = _tool()
    rows = tool.sampler_shares(given, conf, ('min', ), true, ('a', 'b'))
    table = tool.format_table(rows, given.sum(0))
    few = '| few-shot instances (share %) | - | 25.0 (1.00x) | 60.0 (2.40x) |'
    assert few in table
    assert '| b | 1 | 1.00 / 0.0 | 2.40 / 0.0 |' in table
    assert '| a | 3 | 1.00 / 33.3 | 0.53 / 33.3 |' in table


def test_cli_on_a_checkpoint(tmp_path, capsys, monkeypatch):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    monkeypatch.chdir(ROOT)
    tool = _tool()
    cfg = Config.fromfile(CFG)
    torch.manual_seed(0)
    model_cfg = cfg.model.copy()
    model_cfg['data_preprocessor'] = cfg.data_preprocessor
    ckpt = tmp_path / 'm.pth'
    torch.save({'state_dict': MODELS.build(model_cfg).state_dict()}, ckpt)
    tool.main([CFG, str(ckpt), '--forms', 'min', '--batch-size', '500'])
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith('|')]
    assert len(table) == 2 + 1 + 10  # head, few-shot row, 10 digits
    assert '| uniform (x uniform / wrong %) | min (x uniform / wrong %) |' \
        in out
    with pytest.raises(SystemExit, match='sampler_shares: .*no checkpoint'):
        tool.main([CFG, str(tmp_path / 'missing.pth')])
