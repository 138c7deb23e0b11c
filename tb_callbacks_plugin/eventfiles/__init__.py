"""Event files: TFRecord framing, the writer, storage back ends, and the event and scalar readers.

Imports only the package core (metadata, event_format) and never TensorFlow.
"""
