"""Passwords: the policy a new password must meet (``policy``, with the guessable shapes in
``patterns``) and argon2id hashing off the event loop in a bounded pool (``hasher``)."""
