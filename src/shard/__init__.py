"""SHARD: Synonym and Hypernym Audio Reasoning Dataset, and the workflow around it."""
__version__ = "0.1.0"
