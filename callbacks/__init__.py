"""Keras side of tb-callbacks-plugin: event-aware callbacks."""
