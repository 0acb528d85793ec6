"""What the server-rendered pages share: languages, CSRF protection and rate limits.

The buyer portal and the seller back office are plain Flask views over Jinja templates, with
a little JavaScript on top and every core path working without it.

- Languages (Flask-Babel): the ``lang`` query parameter (kept in the session), else the
  browser's ``Accept-Language``, among ``LANGUAGES``; catalogues live in
  ``connector/web/translations``. Dates and money are formatted for the chosen locale.
- CSRF (Flask-WTF): the pages' blueprints call ``protect_forms`` before each request, so
  every POST of a page carries a token; the API and webhooks, authenticated otherwise, are
  not affected.
- Rate limits (Flask-Limiter) count in the application's Redis, so every web process shares
  them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from ..config import Settings
from ..runtime import current_runtime

# Babel locale ids, with the name each language has for itself (for the switcher)
LANGUAGES: dict[str, str] = {
    "en": "English",
    "zh_Hans": "简体中文",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "ja": "日本語",
}
# what browsers send for Chinese, mapped to the catalogue Helloword has
_ALIASES = {"zh": "zh_Hans", "zh_CN": "zh_Hans", "zh_SG": "zh_Hans", "zh_Hans_CN": "zh_Hans"}

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def select_locale() -> str:
    """The page's language: asked for by ``?lang=``, remembered, or the browser's best."""
    asked = request.args.get("lang", "")
    asked = _ALIASES.get(asked.replace("-", "_"), asked.replace("-", "_"))
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGUAGES:
        return str(session["lang"])
    offered = [*LANGUAGES, "zh", "zh-CN", "zh-Hans"]
    best = request.accept_languages.best_match([o.replace("_", "-") for o in offered])
    if best is None:
        return "en"
    best = best.replace("-", "_")
    return _ALIASES.get(best, best) if _ALIASES.get(best, best) in LANGUAGES else "en"


def protect_forms() -> None:
    """A page blueprint's ``before_request``: refuse a form post without a valid CSRF token."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        csrf.protect()


def register_ui(app: Flask, settings: Settings) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "web/translations")
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # pages opt in: protect_forms
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 4 * 3600)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _limits_uri(settings))
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    Babel(app, locale_selector=select_locale)
    csrf.init_app(app)
    limiter.init_app(app)

    @app.context_processor
    def _languages() -> dict[str, Any]:
        return {"languages": LANGUAGES, "current_language": select_locale()}


def page_blueprint(name: str, url_prefix: str) -> Blueprint:
    """A blueprint of pages: templates from ``connector/web/templates``, forms protected, and
    the application's Redis up (the embedded one starts on first use) for the rate limits."""
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)
    blueprint.before_request(_redis_up)
    blueprint.before_request(protect_forms)
    return blueprint


def _redis_up() -> None:
    current_runtime().redis_url  # noqa: B018 (starts the embedded Redis when it is the one)


def _limits_uri(settings: Settings) -> str:
    """The ``limits`` library's spelling of the app's Redis URL (``redis+unix://`` for a
    socket, as the embedded Redis is)."""
    url = settings.redis_url or f"unix://{settings.embedded_redis_socket}"
    if url.startswith("unix://"):
        return "redis+unix://" + url[len("unix://") :]
    return url
