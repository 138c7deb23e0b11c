"""TensorBoard side of tb-callbacks-plugin: event format, writer, reader, plugin."""

from tb_callbacks_plugin.event_format import BUILTIN_KINDS, Event
from tb_callbacks_plugin.eventfiles.event_reader import events_dataframe, read_events
from tb_callbacks_plugin.eventfiles.records import CorruptRecordWarning
from tb_callbacks_plugin.eventfiles.scalar_frame import scalars_dataframe
from tb_callbacks_plugin.eventfiles.writer import EventWriter
from tb_callbacks_plugin.metadata import PLUGIN_NAME, TAB_NAME, UnsupportedVersionError

__all__ = [
    "BUILTIN_KINDS",
    "PLUGIN_NAME",
    "TAB_NAME",
    "CorruptRecordWarning",
    "Event",
    "EventWriter",
    "UnsupportedVersionError",
    "events_dataframe",
    "read_events",
    "scalars_dataframe",
]
