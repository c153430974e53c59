"""The floor of the stack: the smallest Flask endpoint, served by the same gunicorn settings as the app."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "ok"
