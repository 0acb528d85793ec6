"""The offline rate-card carrier: CSV rate cards in, quotes and 4x6 intake labels out."""

from .adapter import RateCardCarrier, bundled_cards, card_folder, tracking_number_for
from .card import CardError, Price, RateCard, load_card, parse_card

__all__ = [
    "CardError",
    "Price",
    "RateCard",
    "RateCardCarrier",
    "bundled_cards",
    "card_folder",
    "load_card",
    "parse_card",
    "tracking_number_for",
]
