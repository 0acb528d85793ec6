"""What the engine says about a decision, in the reader's language.

A decision carries ``Message`` values: a message id and its parameters, never a finished
sentence. ``render(message, locale)`` turns one into text from the catalogue of that locale,
falling back to English for a locale or a message the catalogue does not have. Each template is
a whole sentence, so a translation can put the parameters wherever its grammar wants them.
Numbers and money are written plainly (``12.50 USD``), the same in every language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from string import Formatter
from typing import NamedTuple

from ..domain.money import Money

DEFAULT_LOCALE = "en"


class Message(NamedTuple):
    """A message id from the catalogue and the values of its parameters, in the order
    ``PARAMETERS[id]`` names them. (A named tuple: the engine makes one or more per line, and
    a tuple costs a fraction of a frozen dataclass.)"""

    id: str
    args: tuple[object, ...] = ()

    @property
    def params(self) -> dict[str, object]:
        """The parameters by name."""
        return dict(zip(PARAMETERS[self.id], self.args, strict=True))

    def as_dict(self) -> dict[str, object]:
        """The message as JSON-ready data: ``{"id": ..., "params": {name: text}}``."""
        return {"id": self.id, "params": {k: _plain(v) for k, v in self.params.items()}}


# Each message's parameters, in the order a Message carries their values.
PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "line.within_window": ("line", "days", "window"),
    "line.not_yet_delivered": ("line",),
    "line.window_ended": ("line", "days", "window"),
    "line.rule_approved": ("line", "rule"),
    "line.rule_declined": ("line", "rule", "reason"),
    "line.rule_review": ("line", "rule", "queue"),
    "line.photos_missing": ("line", "required", "given"),
    "line.statutory_rule": ("line", "rule", "reason", "country"),
    "line.statutory_window": ("line", "days", "window", "country"),
    "line.returnless": (),
    "line.restocking_fee": ("fee",),
    "line.bonus_credit": ("percent",),
}


CATALOGUES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "line.within_window": (
            "Line {line} was delivered {days} days ago, within the {window}-day return window."
        ),
        "line.not_yet_delivered": (
            "Line {line} has no delivery date yet, so its return window has not started."
        ),
        "line.window_ended": (
            "Line {line} was delivered {days} days ago, after the {window}-day return window ended."
        ),
        "line.rule_approved": "Line {line} is approved by rule {rule}.",
        "line.rule_declined": "Line {line} is declined by rule {rule} ({reason}).",
        "line.rule_review": (
            "Line {line} goes to the {queue} queue for a person to review (rule {rule})."
        ),
        "line.photos_missing": (
            "Line {line} needs {required} photos and has {given}, so a person reviews it "
            "before it is approved."
        ),
        "line.statutory_rule": (
            "Rule {rule} would decline line {line} ({reason}), but a buyer in {country} may "
            "withdraw from the purchase within 14 days of delivery, so the line is approved."
        ),
        "line.statutory_window": (
            "Line {line} was delivered {days} days ago, after the {window}-day return window, "
            "but a buyer in {country} may withdraw from the purchase within 14 days of "
            "delivery, so the line is approved."
        ),
        "line.returnless": "The buyer keeps the item; nothing needs to be sent back.",
        "line.restocking_fee": "A restocking fee of {fee} applies.",
        "line.bonus_credit": "Choosing store credit adds a {percent}% bonus.",
    },
    "zh": {
        "line.within_window": "商品行 {line} 于 {days} 天前送达，仍在 {window} 天退货期内。",
        "line.not_yet_delivered": "商品行 {line} 尚无送达日期，退货期尚未开始计算。",
        "line.window_ended": "商品行 {line} 于 {days} 天前送达，已超过 {window} 天退货期。",
        "line.rule_approved": "商品行 {line} 已根据规则 {rule} 批准退货。",
        "line.rule_declined": "商品行 {line} 因规则 {rule} 被拒绝（{reason}）。",
        "line.rule_review": "商品行 {line} 已转入 {queue} 队列，由人工审核（规则 {rule}）。",
        "line.photos_missing": (
            "商品行 {line} 需要 {required} 张照片，目前收到 {given} 张，批准前将由人工审核。"
        ),
        "line.statutory_rule": (
            "规则 {rule} 本会拒绝商品行 {line}（{reason}），但 {country} 的买家在送达后 14 天内"
            "享有法定撤回权，因此予以批准。"
        ),
        "line.statutory_window": (
            "商品行 {line} 于 {days} 天前送达，已超过 {window} 天退货期，但 {country} 的买家在"
            "送达后 14 天内享有法定撤回权，因此予以批准。"
        ),
        "line.returnless": "买家无需寄回商品，可自行保留。",
        "line.restocking_fee": "将收取 {fee} 的重新上架费。",
        "line.bonus_credit": "选择店铺积分可额外获得 {percent}% 的奖励。",
    },
}


def locale_of(tag: str) -> str:
    """The catalogue for a language tag: ``zh-CN`` and ``zh_Hans`` read ``zh``; unknown → en."""
    language = tag.replace("_", "-").split("-", 1)[0].lower()
    return language if language in CATALOGUES else DEFAULT_LOCALE


def render(message: Message, locale: str = DEFAULT_LOCALE) -> str:
    """The message as a sentence in ``locale``, or in English where that has no template."""
    template = CATALOGUES[locale_of(locale)].get(message.id)
    if template is None:
        template = CATALOGUES[DEFAULT_LOCALE][message.id]
    return template.format_map({name: _plain(value) for name, value in message.params.items()})


def render_all(messages: Iterable[Message], locale: str = DEFAULT_LOCALE) -> str:
    """Several whole sentences, one after the other."""
    return " ".join(render(message, locale) for message in messages)


def placeholders(template: str) -> frozenset[str]:
    """The parameter names a template uses (the catalogue tests compare them across locales)."""
    return frozenset(name for _, name, _, _ in Formatter().parse(template) if name)


def _plain(value: object) -> object:
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)
