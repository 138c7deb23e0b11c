"""Plugin name and the versioned metadata that marks our records.

Every summary value we write carries `SummaryMetadata` with
`plugin_data.plugin_name == PLUGIN_NAME`, `data_class == DATA_CLASS_TENSOR`
(without an explicit data class TensorBoard's loaders ignore a third-party
plugin's data) and a small JSON `content`: `{"version": N, "role": R}`.

`role` says what the record's tensor holds:
- `"events"`: a bundle of callback events (see `event_format`).
- `"epochs"`: the global step at which an epoch ended, so that epoch-indexed
  scalars (`epoch_loss` is written at step = epoch) can be drawn on a step axis.
"""

from __future__ import annotations

import json

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "callback_events"
TAB_NAME = "Callback Events"

# Bump when the on-disk layout changes in a way old readers cannot follow.
FORMAT_VERSION = 1

ROLE_EVENTS = "events"
ROLE_EPOCHS = "epochs"
ROLES = (ROLE_EVENTS, ROLE_EPOCHS)


class UnsupportedVersionError(ValueError):
    """A record was written by a newer format than this reader understands."""


def create_summary_metadata(role: str) -> summary_pb2.SummaryMetadata:
    """Metadata for one of our summary values."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    content = json.dumps({"version": FORMAT_VERSION, "role": role}).encode()
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=content),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_content(content: bytes) -> tuple[int, str]:
    """Returns `(version, role)` of a record's plugin content.

    Raises:
      UnsupportedVersionError: the record is from a newer format version.
      ValueError: the content is not ours or is damaged.
    """
    try:
        parsed = json.loads(content)
        version = int(parsed["version"])
        role = str(parsed.get("role", ROLE_EVENTS))
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"unreadable {PLUGIN_NAME} metadata: {content[:80]!r}") from e
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"{PLUGIN_NAME} record has format version {version}, but this "
            f"tb-callbacks-plugin reads versions up to {FORMAT_VERSION}; "
            "upgrade tb-callbacks-plugin to read it"
        )
    if version < 1 or role not in ROLES:
        raise ValueError(f"unknown {PLUGIN_NAME} record: version {version}, role {role!r}")
    return version, role


def role_or_reason(content: bytes) -> tuple[str | None, str | None]:
    """`(role, None)` for a record's plugin content we read, or `(None, why not)`:
    a sentence for the tab's warnings (a newer format, damaged metadata)."""
    try:
        return parse_plugin_content(content)[1], None
    except UnsupportedVersionError as e:
        return None, str(e)
    except ValueError as e:
        return None, f"records with damaged metadata skipped ({e})"
