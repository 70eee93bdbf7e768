"""Infrastructure with no domain logic: the database engine and per-request ``db``, the schema
and its migrations, the clock, random tokens and their digests, the generated secret key.

The transaction rule, followed by every package:

- Services take a ``db`` (the request's SQLAlchemy ``AsyncSession``) and never commit or roll
  back. They add, update and flush; what they change becomes durable only when their caller
  commits.
- The caller that owns a unit of work commits it once: a view (or a flow in ``authn`` acting for
  it) at the end of the action, so the action's rows and its security event land together or not
  at all (a sign-in's session row and its ``login`` event are one commit).
- The signed-in lookup that runs on every page is the one exception that writes outside a view:
  ``sessions.current_user`` commits its own small writes (a throttled ``last_seen_at`` touch, the
  removal of an expired row) so they never ride on, or wait for, the page's own transaction.
- Work outside a request (purges, CLI commands, start-up) opens its own ``db`` from
  ``state.get_database().sessionmaker`` and commits it.
"""
