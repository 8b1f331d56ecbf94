"""Offline tools built on the shared harness (harness/)."""
