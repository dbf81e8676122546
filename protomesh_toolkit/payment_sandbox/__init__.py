"""A stand-in for an external card-payment provider, run as its own process.

It is NOT part of the mesh: its model is deliberately foreign (decimal-string
amounts in major units, cryptic result codes, compact timestamps, its own
idempotency header), so the order service has something real to translate
through its anti-corruption layer (`services/order/payments/`). Tests and
`protomesh up` start it; its control endpoint injects slowness and failures.
"""
