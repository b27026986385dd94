from .efficientnet_lite import (convert_efficientnet_lite,
                                efficientnet_lite_file,
                                load_from_efficientnet_lite)

__all__ = [
    'convert_efficientnet_lite', 'efficientnet_lite_file',
    'load_from_efficientnet_lite'
]
