"""Federation between national nodes (issue 4): node identity, the PoC directory, signed message envelopes,
the transactional outbox and the inbound inbox.

Public contract used by the trace workflow (`tracing/requests/`):

- `tracing.federation.outbox.enqueue(session, *, to_country, kind, body, in_reply_to=None) -> uuid.UUID`
  queues a signed message in the caller's transaction; the delivery worker sends it after commit.
- `tracing.federation.inbox.handler(kind)` registers `fn(session, message) -> None` for an inbound kind;
  accepted messages are stored once (by message id) and dispatched in the same transaction.
"""
