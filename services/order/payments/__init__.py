"""The anti-corruption layer to the external payment provider (pattern 13).

The provider speaks its own model: decimal strings in major units
("12.50"), result codes (AUTH_OK, E102, E500, ...), compact timestamps
("20261205T201500Z") and an `X-Request-Ref` header for idempotency. Nothing
of it leaves this package: the order context sees `PaymentGateway` (in
handlers.py), `Money`, `PaymentAuthorization`, `PaymentDeclined` and
`PaymentUnavailable`.

- `wire.py`: the provider's vocabulary and the translation both ways (pure)
- `transport.py`: JSON calls over a few kept-open HTTP/1.1 connections (asyncio streams)
- `gateway.py`: `ProviderPaymentGateway`, the port's implementation, behind a
  circuit breaker, counted in Prometheus
"""
