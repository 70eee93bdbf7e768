"""The tutorial's User and its user_loader."""

from __future__ import annotations

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from bench.seed_app import db, login_manager


class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), unique=True, nullable=False)
    password_hash = db.Column(db.String(128), nullable=False)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The tutorial's User.query.get(int(user_id)), in SQLAlchemy 2's spelling (Query.get is
    # deprecated and warns): the same SELECT by primary key, on every request.
    return db.session.get(User, int(user_id))
