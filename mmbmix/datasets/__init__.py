from .coco import COCOMultiLabel
from .deepfashion import DeepFashionMultiLabel, convert_deepfashion
from .label_noise import LabelNoiseDataset
from .mosaic import MosaicMultiLabel
from .samplers import DualBatchSampler
from .utils import get_label_matrix

__all__ = [
    'COCOMultiLabel', 'DeepFashionMultiLabel', 'convert_deepfashion',
    'LabelNoiseDataset', 'MosaicMultiLabel', 'DualBatchSampler',
    'get_label_matrix'
]
