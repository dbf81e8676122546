"""Contract checks: published protos may only change additively, gRPC and REST alike."""
