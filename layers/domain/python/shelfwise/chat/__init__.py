"""Customer-service chat triage: intent, sentiment, PII redaction, slots, replies and escalation."""
