"""Output heads: parameters → exact log-likelihood in nats and samples, under one contract
(:class:`~pixelrnn.heads.base.OutputHead`)."""

from pixelrnn.heads.base import OutputHead
from pixelrnn.heads.categorical import Bernoulli, Categorical, make_head
from pixelrnn.heads.logistic_mixture import DiscretizedLogisticMixture

__all__ = ["Bernoulli", "Categorical", "DiscretizedLogisticMixture", "OutputHead", "make_head"]
