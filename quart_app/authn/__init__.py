"""The sign-in flow, one copy of it: the password step behind the login form and every
re-authentication (throttle, verify with a dummy hash for unknown names, rehash, events), and the
one ``sign_out`` that every way out of a session goes through."""
