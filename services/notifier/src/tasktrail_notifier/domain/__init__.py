"""Pure rules of alerting: observations, conditions, incidents, message formats, retries."""
