"""NATS JetStream: streams, publishing, durable consumers and dead letters."""
