def convert_deepfashion(*args, **kwargs):
    raise NotImplementedError
