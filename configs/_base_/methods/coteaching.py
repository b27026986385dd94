# Co-teaching (Han et al., NeurIPS 2018), instance-level: two networks, each
# trained on the instances of smallest loss under the other; forget_rate =
# the noise rate (set by the noise configs; 0: two independent BCE
# networks), reached after num_gradual epochs; prediction from network 1.
#     model = {{_base_.coteaching_model}}
coteaching_model = dict(
    type='CoTeachingClassifier',
    forget_rate=0.0,
    num_gradual=10,
    predict_with='net1')
coteaching_model_short = dict(coteaching_model, num_gradual=5)
# the BalanceMix paper's Co-teaching (Appendix D): "a bi-modal GMM on the
# losses of all instances (instance level), clean where its probability >
# 0.5"; fitted on each batch's losses of the peer network (our reading of
# "all instances"; docs/configs.md)
coteaching_model_paper = dict(coteaching_model, selection='gmm')
