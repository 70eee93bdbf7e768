"""The security event log: what happened on an account, recorded with the action that caused it
and shown to its owner on the activity page."""
