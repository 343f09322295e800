"""Contracts between Strix services: subjects, payloads and errors."""
