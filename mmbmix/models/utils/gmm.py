def fit_gmm_1d(*a, **k):
    raise NotImplementedError


def gmm_posterior(*a, **k):
    raise NotImplementedError
