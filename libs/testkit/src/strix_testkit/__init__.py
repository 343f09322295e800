"""Real servers for Strix tests: a NATS server per test, one chDB store per test process."""
