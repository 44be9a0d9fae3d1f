"""tasktrail-notifier: alert rules, incidents and notifications."""
