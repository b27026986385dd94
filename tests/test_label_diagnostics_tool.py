"""tools/analysis_tools/label_diagnostics.py: Eq. 12-13 set by set."""
import importlib.util
import json
import os
import os.path as osp

import pytest
import torch

from mmbmix.models.utils.label_refinery import AMBIGUOUS, CLEAN, RELABELED

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'label_diagnostics.py')
CFG = osp.join(ROOT, 'configs', 'balancemix',
               'balancemix_resnet-small_1xb32_mosaic-digits-32px_flip40.py')


def _tool():
    spec = importlib.util.spec_from_file_location('label_diagnostics', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sets_by_hand():
    # 3 instances x 2 classes; the wrong given labels are (0, 0) and (2, 1)
    true = torch.tensor([[1, 0], [1, 1], [0, 0]], dtype=torch.bool)
    given = torch.tensor([[0, 0], [1, 1], [0, 1]], dtype=torch.bool)
    state = torch.tensor(
        [[CLEAN, CLEAN], [CLEAN, AMBIGUOUS], [RELABELED, CLEAN]],
        dtype=torch.uint8)
    refined = given.clone()
    refined[2, 0] = True  # re-labeled wrongly
    rows = {
        r['set']: r
        for r in _tool().set_diagnostics(given, true, state, refined)
    }
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
    torch.save(
        {
            tool.STATE_KEY: dict(
                label_state=state, refined_labels=given.clone())
        }, ckpt)
    out = tmp_path / 'sets.json'
    tool.main([CFG, str(ckpt), '--json', str(out)])
    table = capsys.readouterr().out
    noise = (given != true).float().mean().item()
    # selected clean, re-labeled, ambiguous, noise, precision, recall,
    # wrong selected (nothing re-labeled: no re-label accuracy column)
    assert f'| all | {given.numel()} | {100 * (1 - noise):.1f} | 0.0 | ' \
        f'{100 * noise:.1f} | {100 * noise:.1f} | 100.0 | 100.0 | 0 |\n' \
        in table and 're-label acc.' not in table
    assert '| digit_9 - |' in table and os.path.getsize(out) > 0
    # no NaN in the JSON: a figure without denominator is left out
    rows = json.loads(out.read_text(), parse_constant=lambda c: 1 / 0)
    assert 'relabel_accuracy' not in rows[0] and rows[0]['recall'] == 1.0

    torch.save({'state_dict': {}}, ckpt)
    with pytest.raises(SystemExit, match='has no label state'):
        tool.main([CFG, str(ckpt)])


def test_real_data_without_clean_labels_gets_states_and_p_g(capsys):
    """Every real dataset: no clean labels, so no precision or recall,
    but each set's label states and mean p_G."""
    tool = _tool()
    given = torch.tensor([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=torch.bool)
    state = torch.tensor([[CLEAN, CLEAN], [RELABELED, AMBIGUOUS],
                          [CLEAN, CLEAN], [AMBIGUOUS, CLEAN]],
                         dtype=torch.uint8)
    p = torch.tensor([[0.9, 0.8], [0.1, 0.3], [0.7, 0.6], [0.2, 0.9]])
    rows = {
        r['set']: r
        for r in tool.set_diagnostics(given, None, state, given, p_clean=p)
    }
    assert rows['all']['clean_fraction'] == pytest.approx(5 / 8)
    assert rows['class 0 +']['relabeled_fraction'] == pytest.approx(1 / 2)
    assert rows['class 1 +']['ambiguous_fraction'] == pytest.approx(1 / 2)
    assert rows['class 1 +']['mean_p_clean'] == pytest.approx(0.45)
    assert 'precision' not in rows['all'] and 'noise' not in rows['all']
    table = tool.format_table(list(rows.values()))
    assert 'mean p_G %' in table and 'precision' not in table
    assert '| class 1 + | 2 | 50.0 | 0.0 | 50.0 | 45.0 |' in table


def test_refit_applies_the_label_manager_rule():
    """--refit: the hook's Eq. 6-9 on the model's confidences. Losses that
    separate the wrong labels exactly give precision = recall = 1, and the
    wrong labels the model is sure about are re-labeled, correctly."""
    from mmengine.config import Config
    tool = _tool()
    g = torch.Generator().manual_seed(0)
    true = torch.rand(400, 3, generator=g) < 0.3
    wrong = torch.rand(400, 3, generator=g) < 0.2
    given = true ^ wrong
    # the model agrees with the true labels: small loss on the correct
    # given labels, large on the wrong ones (confidence 0.99 / 0.01)
    jitter = 0.004 * torch.rand(400, 3, generator=g)
    confidence = torch.where(true, 0.99 - jitter, 0.01 + jitter)
    cfg = Config(
        dict(custom_hooks=[
            dict(
                type='LabelManagerHook',
                warmup_epochs=5,
                relabel_threshold=0.975,
                use_clean=False)
        ]))
    fitted = tool.refit_label_state(cfg, given, confidence)
    state, refined = fitted.label_state, fitted.refined_labels
    rows = {
        r['set']: r
        for r in tool.set_diagnostics(given, true, state, refined)
    }
    assert (state == CLEAN).equal(~wrong)  # use_clean=False is overridden
    assert (state == RELABELED).equal(wrong)
    assert refined.equal(true)
    assert rows['all']['precision'] == 1.0 and rows['all']['recall'] == 1.0
    assert rows['all']['relabel_accuracy'] == 1.0
    assert rows['all']['relabel_proportion'] == pytest.approx(
        wrong.float().mean().item())


def test_refit_cli_predicts_every_training_instance(tmp_path, capsys,
                                                    monkeypatch):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    monkeypatch.chdir(ROOT)
    tool = _tool()
    cfg = Config.fromfile(CFG)
    torch.manual_seed(0)
    model_cfg = cfg.model.copy()
    model_cfg['data_preprocessor'] = cfg.data_preprocessor
    model = MODELS.build(model_cfg).eval()
    ckpt = tmp_path / 'bce.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    scores = tool.predict_train_set(cfg, str(ckpt), batch_size=500)
    given, true, _ = tool.load_labels(CFG)
    assert scores.shape == given.shape and torch.isfinite(scores).all()
    # instance 7 through the test pipeline and the same model
    dataset = tool.build_train_set(cfg, cfg.test_pipeline)
    from mmengine.dataset import pseudo_collate
    with torch.no_grad():
        out = model.val_step(pseudo_collate([dataset[7]]))[0]
    assert torch.allclose(scores[7], out.pred_score, atol=1e-5)

    tool.main([CFG, str(ckpt), '--refit', '--batch-size', '500'])
    table = capsys.readouterr().out
    assert f'| all | {given.numel()} |' in table
    with pytest.raises(SystemExit, match='no checkpoint file'):
        tool.main([CFG, str(tmp_path / 'missing.pth'), '--refit'])
    other = tmp_path / 'other.pth'  # another model's weights
    torch.save({'state_dict': {'backbone.fc.weight': torch.zeros(1)}}, other)
    with pytest.raises(SystemExit, match='other.pth does not fit the model'):
        tool.main([CFG, str(other), '--refit'])


@pytest.mark.parametrize('name', ['label_diagnostics', 'export_label_issues'])
def test_truncated_checkpoint_is_one_line(tmp_path, monkeypatch, name):
    monkeypatch.chdir(ROOT)
    path = osp.join(ROOT, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.zeros(5000)}}, full)
    cut = tmp_path / 'epoch_3.pth'
    cut.write_bytes(full.read_bytes()[:4000])
    args = [CFG, str(cut)]
    if name == 'export_label_issues':
        args += ['--out', str(tmp_path / 'out')]
    with pytest.raises(SystemExit) as e:
        tool.main(args)
    msg = str(e.value)
    assert 'epoch_3.pth cannot be read as a checkpoint (truncated' in msg
    assert '\n' not in msg


def _weighted_case():
    """3 x 2 labels: clean, given, states, refined labels and p_G; the
    wrong given labels are (0, 0) and (2, 1); (2, 0) is re-labeled wrongly."""
    true = torch.tensor([[1, 0], [1, 1], [0, 0]], dtype=torch.bool)
    given = torch.tensor([[0, 0], [1, 1], [0, 1]], dtype=torch.bool)
    state = torch.tensor(
        [[CLEAN, CLEAN], [AMBIGUOUS, AMBIGUOUS], [RELABELED, CLEAN]],
        dtype=torch.uint8)
    refined = given.clone()
    refined[2, 0] = True
    p = torch.tensor([[0.9, 0.9], [0.25, 0.5], [0.1, 0.8]])
    return true, given, state, refined, p


def test_what_each_class_learns_from_by_hand():
    """weight_on_wrong: the share of a set's Eq. 10 weight on wrong targets
    (BCE's would be the noise rate); correct_weight_kept: the mean weight of
    its correct labels (BCE: 1)."""
    tool = _tool()
    true, given, state, refined, p = _weighted_case()
    rows = {
        r['set']: r
        for r in tool.set_diagnostics(given, true, state, refined, p_clean=p)
    }
    # weights: [[1, 1], [0.25, 0.5], [1, 1]]; wrong targets: (0, 0) given
    # 0 / true 1, (2, 0) re-labeled to 1 / true 0, (2, 1) given 1 / true 0
    assert rows['all']['weight_on_wrong'] == pytest.approx(3 / 4.75)
    # correct given labels: (0, 1), (1, 0), (1, 1), (2, 0): 1 + .25 + .5 + 1
    assert rows['all']['correct_weight_kept'] == pytest.approx(2.75 / 4)
    assert rows['class 1 +']['weight_on_wrong'] == pytest.approx(1 / 1.5)
    assert rows['class 0 +']['correct_weight_kept'] == pytest.approx(0.25)


def test_what_the_mixed_batches_train_on_by_hand(monkeypatch):
    """mixing_masses: a label weighs E[lam] w as a random instance and
    (1 - E[lam]) N q_i w' as a minority instance, w' the random partner's
    weight (its column mean; per_half: its own)."""
    tool = _tool()
    true, given, state, refined, p = _weighted_case()
    q = torch.tensor([0.5, 0.25, 0.25])

    def rows(per_half):
        mixing = dict(sampling_probs=q, mean_lambda=0.75, per_half=per_half)
        return {
            r['set']: r
            for r in tool.set_diagnostics(
                given, true, state, refined, p_clean=p, mixing=mixing)
        }

    # weights [[1, 1], [.25, .5], [1, 1]]; class 1 column mean 2.5 / 3.
    # class 1 +: rows 1, 2; random .75 * (.5 + 1) = 1.125; minority
    # .25 * 3 * .25 * (2.5 / 3) twice = .3125; (2, 1) is wrong
    paper = rows(False)['class 1 +']
    assert paper['minority_share'] == pytest.approx(0.3125 / 1.4375)
    assert paper['mixed_on_wrong'] == pytest.approx((0.75 + 0.15625) / 1.4375)
    # per_half: minority .25 * 3 * .25 * (.5 + 1) = .28125
    assert rows(True)['class 1 +']['minority_share'] == pytest.approx(0.28125 /
                                                                      1.40625)
    # the re-labeled label (2, 0) carries 1 of the 4.75 of weight
    assert rows(False)['all']['weight_relabeled'] == pytest.approx(1 / 4.75)
    table = tool.format_table(list(rows(False).values()))
    assert 'mass from the minority half %' in table
    # the config's mixer: alpha 4, the paper's weighting
    monkeypatch.chdir(ROOT)
    mixing = tool.mixing_of(tool.load_config(CFG), q)
    assert mixing['mean_lambda'] == pytest.approx(0.5 + 35 / 256)
    assert mixing['per_half'] is False
    assert tool.mixing_of(tool.load_config(CFG), None) is None


def test_cfg_options_reach_the_refit_rule(monkeypatch):
    """--cfg-options as in tools/train.py: the label manager options a run
    was trained with (e.g. gmm.split) reach the rule --refit applies."""
    monkeypatch.chdir(ROOT)
    tool = _tool()
    args = tool.parse_args([
        CFG, 'ckpt.pth', '--refit', '--cfg-options',
        'default_hooks.label_manager.gmm.split=disagree'
    ])
    cfg = tool.load_config(args.config, args.cfg_options)
    from mmbmix.apis import manager_from_config
    assert manager_from_config(cfg).gmm['split'] == 'disagree'
    assert manager_from_config(tool.load_config(CFG)).gmm['split'] == 'always'
