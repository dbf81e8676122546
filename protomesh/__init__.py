"""protomesh: the runtime every service shares."""
