"""The only module-level objects of the web layer: the Flask extensions, bound in create_app."""

from __future__ import annotations

from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect

from exam_server.core.database import Database

db = Database()
socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()
