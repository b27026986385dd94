"""tools/analysis_tools/label_diagnostics.py: Eq. 12-13 set by set."""
import importlib.util
import os
import os.path as osp

import pytest
import torch

from mmbmix.models.utils.label_refinery import AMBIGUOUS, CLEAN, RELABELED

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'label_diagnostics.py')
CFG = osp.join(ROOT, 'configs', 'balancemix',
               'balancemix_resnet-small_mosaic-digits_flip40.py')


def _tool():
    spec = importlib.util.spec_from_file_location('label_diagnostics', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sets_by_hand():
    # 3 instances x 2 classes; the wrong given labels are (0, 0) and (2, 1)
    true = torch.tensor([[1, 0], [1, 1], [0, 0]], dtype=torch.bool)
    given = torch.tensor([[0, 0], [1, 1], [0, 1]], dtype=torch.bool)
    state = torch.tensor([[CLEAN, CLEAN], [CLEAN, AMBIGUOUS],
                          [RELABELED, CLEAN]], dtype=torch.uint8)
    refined = given.clone()
    refined[2, 0] = True  # re-labeled wrongly
    rows = {r['set']: r for r in _tool().set_diagnostics(
        given, true, state, refined)}
    # all: 4 clean, of which (0, 0) and (2, 1) are wrong; 4 correct labels
    assert rows['all']['precision'] == pytest.approx(2 / 4)
    assert rows['all']['recall'] == pytest.approx(2 / 4)
    assert rows['all']['wrong_selected'] == 2
    assert rows['all']['relabel_proportion'] == pytest.approx(1 / 6)
    assert rows['all']['relabel_accuracy'] == 0.0
    # class 0, given negatives: (0, 0) wrong and clean, (2, 0) re-labeled
    assert rows['class 0 -']['labels'] == 2
    assert rows['class 0 -']['noise'] == pytest.approx(0.5)
    assert rows['class 0 -']['precision'] == 0.0
    # class 1, given positives: (1, 1) ambiguous, (2, 1) wrong and clean
    assert rows['class 1 +']['precision'] == 0.0
    assert rows['class 1 +']['recall'] == 0.0
    assert rows['given positive']['labels'] == 3
    assert rows['given positive']['precision'] == pytest.approx(1 / 2)


def test_cli_on_a_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the config's data_root is relative
    tool = _tool()
    given, true, _ = tool.load_labels(CFG)
    # clean exactly where the given label is right: precision = recall = 1
    state = torch.where(given == true, CLEAN, AMBIGUOUS).to(torch.uint8)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({tool.STATE_KEY: dict(label_state=state,
                                     refined_labels=given.clone())}, ckpt)
    out = tmp_path / 'sets.json'
    tool.main([CFG, str(ckpt), '--json', str(out)])
    table = capsys.readouterr().out
    noise = (given != true).float().mean().item()
    assert f'| all | {given.numel()} | {100 * noise:.1f} | ' \
        f'{100 * (1 - noise):.1f} | 100.0 | 100.0 | 0 |' in table
    assert '| digit_9 - |' in table and os.path.getsize(out) > 0

    torch.save({'state_dict': {}}, ckpt)
    with pytest.raises(SystemExit, match='has no label state'):
        tool.main([CFG, str(ckpt)])
