"""The tutorial's User and its user_loader."""

from __future__ import annotations

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from bench.seed_app import db, login_manager


class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    # A table name of its own (the tutorial's would be "user"): on a --database-url
    # PostgreSQL it sits beside the app's tables, and is dropped after the run.
    __tablename__ = "bench_seed_users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), unique=True, nullable=False)
    # The tutorial's String(128) is shorter than werkzeug's scrypt hashes (162 characters):
    # SQLite stores them anyway, PostgreSQL refuses them.
    password_hash = db.Column(db.String(256), nullable=False)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The tutorial's User.query.get(int(user_id)), in SQLAlchemy 2's spelling (Query.get is
    # deprecated and warns): the same SELECT by primary key, on every request.
    return db.session.get(User, int(user_id))
