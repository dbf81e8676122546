"""The local mail sink: an SMTP server that keeps every message it receives as a file."""
