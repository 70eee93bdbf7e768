"""Infrastructure with no domain logic: the database engine and the request's ``db``, the
driver-level hot reads, the schema and its migrations, the clock, random tokens and their
digests, the generated secret key.

The transaction rule, followed by every package:

- **Services never commit or roll back.** The functions of ``accounts``, ``sessions.store``,
  ``events`` and the like take a ``db`` (the request's SQLAlchemy ``AsyncSession``), add,
  update, delete and flush; nothing they do is durable until their caller commits.
- **The owner of a unit of work commits it, once**: a view, or a flow in ``authn`` acting for
  one. An action's rows and its security event land together or not at all: signing in is the
  session row and its ``login`` event in one commit (``authn.sign_in``, on the hot path); a
  password change is the new hash, the ended sessions, the rotated id and the event in one;
  signing out is the deleted row with the caller's staged event or deletion
  (``authn.sign_out``).
- An owner may also end a read early with a commit that writes nothing, and does so before
  argon2 runs (no transaction stays open while a hash takes milliseconds) and, on SQLite,
  before a write that follows a read (a reader cannot wait to become a writer).
- Two owners run outside the request's ``db``, on connections of their own, and commit there:
  the signed-in lookup of every page (``sessions.current_user.resolve_session``: its expiry
  delete and ``last_seen_at`` touch) and the database throttle store (a failure must be counted
  even though nothing else of a failed login commits).
- The hot path's reads (the session behind a cookie, the account and throttle counters a login
  form names) go straight to the driver through ``core.hot_path``, outside any transaction.
  One owner writes that way: a sign-in (``authn.sign_in``) hands its session row, its event and
  the ended old session to ``Database.commit_together`` at once, a transaction of its own that
  commits them together; its request's ``db`` then holds no uncommitted write (on SQLite the
  one would wait for the other's lock).
- Work outside a request (the purge, CLI commands, the test kit) opens its own ``db`` from
  ``state.get_database().new_db()`` and commits it.

The five things called "session" have five names: ``db`` (the SQLAlchemy ``AsyncSession``,
``core.database.get_db``), ``UserSession`` (the row), ``SignedIn`` (who is signed in, as pages
see it), quart-auth's ``current_user`` (whose ``auth_id`` is the row's token), and Quart's
``session``, used only for the CSRF token and flashed messages.
"""
