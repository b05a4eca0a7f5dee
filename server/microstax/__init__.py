"""MicroStax Identity: federated, hybrid-signed tokens for cross-cluster calls."""

__version__ = "0.1.0"
