"""Serving side of the recommender: load an exported model directory and rank items with onnxruntime."""

from shelfwise.recommend.recommender import Recommendation, Recommender, UnknownItemError
from shelfwise.recommend.weighting import EventWeighting

__all__ = ["EventWeighting", "Recommendation", "Recommender", "UnknownItemError"]
