"""Mail: the outbox (rows written in the transaction of the action that causes them), the sender
task each worker runs, the SMTP and console backends, and the links mails carry; ``serving``
starts the sender with the app. The templates are the package's ``templates/mail/``.

No request waits for SMTP: a request only writes a row; the sender delivers it, with retries,
and wakes at once when a request of its worker has queued one.
"""
