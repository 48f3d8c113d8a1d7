"""Kept spans encoded to OTLP protobuf top-down: the same bytes as the library's encoder
at a third of its instructions (docs/benchmarks.md, "The encoding, taken apart").

opentelemetry-exporter-otlp-proto-common's ``encode_spans`` builds every child message
first and passes it to its parent's constructor; upb copies a message into its parent
by serialising and parsing it, once per level (value, attribute, span, scope, resource,
request): ~20 k instructions per attribute. Here each child is made in place in its
parent (``add()``, a sub-message's fields set directly), with the same generated
classes, so nothing is copied. Everything the library's encoder writes is written
here, in its order and with its error behaviour (an attribute it cannot encode is
logged and skipped); tests/test_span_encoding.py holds the bytes equal. The library's
encoder stays the anchor of the benchmarks and the encoder of the ``official`` mode.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

__all__ = ["encode_spans", "use_for_export"]

_logger = logging.getLogger(__name__)

_KINDS = {
    SpanKind.INTERNAL: PB2Span.SpanKind.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: PB2Span.SpanKind.SPAN_KIND_SERVER,
    SpanKind.CLIENT: PB2Span.SpanKind.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: PB2Span.SpanKind.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: PB2Span.SpanKind.SPAN_KIND_CONSUMER,
}
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_REMOTE = _HAS_IS_REMOTE | SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


def _set_value(target: Any, value: Any) -> None:
    """Fill an ``AnyValue`` in place; raises for a value the OTLP model has no type for."""
    kind = type(value)
    if kind is str:  # the common cases first, exactly typed (a bool is an int)
        target.string_value = value
    elif kind is int:
        target.int_value = value
    elif value is None:
        target.SetInParent()  # present and empty, as the library writes it
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, Sequence):
        array = target.array_value
        array.SetInParent()
        values = array.values
        for item in value:
            _set_value(values.add(), item)
    elif isinstance(value, Mapping):
        kvlist = target.kvlist_value
        kvlist.SetInParent()
        pairs = kvlist.values
        for key, item in value.items():
            pair = pairs.add(key=str(key))
            _set_value(pair.value, item)
    else:
        raise TypeError(f"Invalid type {type(value)} of value {value}")


def _add_attributes(target: Any, attributes: Mapping[str, Any] | None) -> None:
    """Append key-values; one that cannot be encoded is logged and left out whole."""
    if not attributes:
        return
    add = target.add
    for key, value in attributes.items():
        pair = add()
        try:
            pair.key = key
            kind = type(value)
            if kind is str:  # the common cases inline: one call less per attribute
                pair.value.string_value = value
            elif kind is int:
                pair.value.int_value = value
            else:
                _set_value(pair.value, value)
        except Exception as error:  # as the library's encoder: a bad attribute, not a lost batch
            del target[-1]
            _logger.exception("Failed to encode key %s: %s", key, error)


def _add_span(spans: Any, span: ReadableSpan) -> None:
    context = span.get_span_context()
    parent = span.parent
    trace_state = context.trace_state
    # Scalars through the constructor's keywords (None leaves a field unset, as in the
    # library's); messages and lists below, made in place.
    out = spans.add(
        trace_id=context.trace_id.to_bytes(16, "big"),
        span_id=context.span_id.to_bytes(8, "big"),
        trace_state=",".join(f"{k}={v}" for k, v in trace_state.items()) if trace_state else None,
        parent_span_id=parent.span_id.to_bytes(8, "big") if parent else None,
        name=span.name,
        kind=_KINDS[span.kind],
        start_time_unix_nano=span.start_time,
        end_time_unix_nano=span.end_time,
        dropped_attributes_count=span.dropped_attributes,
        dropped_events_count=span.dropped_events,
        dropped_links_count=span.dropped_links,
        flags=_REMOTE if parent and parent.is_remote else _HAS_IS_REMOTE,
    )
    _add_attributes(out.attributes, span.attributes)
    for event in span.events:
        added = out.events.add(
            name=event.name,
            time_unix_nano=event.timestamp,
            dropped_attributes_count=event.dropped_attributes,
        )
        _add_attributes(added.attributes, event.attributes)
    for link in span.links:
        linked = link.context
        added = out.links.add(
            trace_id=linked.trace_id.to_bytes(16, "big"),
            span_id=linked.span_id.to_bytes(8, "big"),
            dropped_attributes_count=link.dropped_attributes,
            flags=_REMOTE if linked.is_remote else _HAS_IS_REMOTE,
        )
        _add_attributes(added.attributes, link.attributes)
    status = span.status
    if status is not None:
        written = out.status
        written.SetInParent()  # present even when UNSET, as the library writes it
        code = status.status_code.value
        if code:
            written.code = code
        if status.description is not None:
            written.message = status.description


def encode_spans(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The export request of a batch: spans grouped by resource, then by
    instrumentation scope, each group in order of first appearance (as the library's
    ``encode_spans``)."""
    # Equal resources (and scopes) share a group, as in the library's dicts, but each
    # distinct object is hashed once per batch, not once per span (the SDK's
    # Resource.__hash__ JSON-dumps its attributes): the batch's spans hold them alive,
    # so their ids are stable meanwhile.
    canonical: dict[Any, Any] = {}
    seen: dict[int, Any] = {}
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[ReadableSpan]]]]] = {}
    for span in spans:
        resource = span.resource
        same = seen.get(id(resource))
        if same is None:
            same = seen[id(resource)] = canonical.setdefault(resource, resource)
        scope = span.instrumentation_scope or None
        same_scope = seen.get(id(scope))
        if same_scope is None:
            same_scope = seen[id(scope)] = canonical.setdefault(("scope", scope), scope)
        by_scope = groups.get(id(same))
        if by_scope is None:
            by_scope = groups[id(same)] = (same, {})
        members = by_scope[1].get(id(same_scope))
        if members is None:
            members = by_scope[1][id(same_scope)] = (same_scope, [])
        members[1].append(span)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans
    for resource, by_scope in groups.values():
        group = resource_spans.add()
        group.resource.SetInParent()
        _add_attributes(group.resource.attributes, resource.attributes)
        if resource.schema_url:
            group.schema_url = resource.schema_url
        scope_spans = group.scope_spans
        for scope, members in by_scope.values():
            out = scope_spans.add()
            written = out.scope
            written.SetInParent()
            if scope is not None:
                if scope.name:
                    written.name = scope.name
                if scope.version:
                    written.version = scope.version
                _add_attributes(written.attributes, scope.attributes)
                if scope.schema_url:
                    out.schema_url = scope.schema_url
            add = out.spans
            for span in members:
                _add_span(add, span)
    return request


def use_for_export(ours: bool) -> None:
    """Make the OTLP/HTTP span exporter encode with ours (``True``) or the library's.

    The exporter's ``export`` looks up its module's ``encode_spans`` at each call, so
    rebinding that one name swaps the encoder and keeps the rest of ``export`` as
    shipped (its size limit, self-metrics, retries). A subclass re-implementing
    ``export`` would depend on three private attributes and copy its error handling;
    this depends on one module-level name, which tests/test_span_encoding.py checks the
    exporter still reads. Process-wide: a process traces in one mode.
    """
    from opentelemetry.exporter.otlp.proto.common import trace_encoder
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    trace_exporter.encode_spans = encode_spans if ours else trace_encoder.encode_spans  # type: ignore[attr-defined]
