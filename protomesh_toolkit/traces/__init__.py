"""The local OTLP receiver (`protomesh up --otlp`) and the trace view (`protomesh traces`)."""
