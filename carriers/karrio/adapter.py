"""The karrio carrier: return labels from a merchant's own carrier accounts through karrio.

One adapter reaches every carrier whose karrio extension is installed (DHL Express, UPS and
FedEx with the ``karrio`` extra): each carrier account names its carrier in
``settings["carrier_name"]`` and holds that carrier's karrio credentials in its secrets. A
quote asks the carrier for rates on the buyer's lane; buying one creates the carrier's return
shipment where karrio has one for it (UPS's return service, DHL Express's return option), with
customs declared as returned goods on a cross-border lane, and keeps the label as PDF, or ZPL
when the account asks for it. ``void`` cancels the shipment; ``track`` reads the carrier's
scans, normalised by karrio and mapped onto ``TrackingStatus``.

Quotes and labels say ``karrio`` as their carrier, like every adapter's slug, so routing and
purchase find the account again. The carrier that moves the parcel leads the service name
(``ups-ups_standard``, ``dhl_express-dhl_express_worldwide_nondoc``) and is the label's
``tracking_carrier``.

The direct carriers take no idempotency key and karrio cannot look a shipment up by reference,
so a purchase retried after the carrier answered but before Helloword stored the label buys a
second one; the outbox claims each purchase for one job at a time, which leaves only that
window.

Credentials: ``secrets`` are the karrio connection of the carrier (DHL Express ``site_id``,
``password``, ``account_number``; UPS and FedEx ``client_id``, ``client_secret``,
``account_number``). Settings: ``carrier_name``, ``test_mode``, ``label_type`` (``PDF`` or
``ZPL``), ``services`` (karrio service codes to quote, all by default), ``options`` (karrio
shipping options for every request), ``config`` (karrio connection config),
``customs_description`` and ``timeout`` in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.domain import Label, RateQuote, Shipment, TrackingEvent
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials

from . import mapper

DEFAULT_TIMEOUT = 30.0  # seconds to wait for a carrier's answer
EXTRA = "helloword[karrio]"  # the install that brings karrio and its carrier extensions


class KarrioCarrier:
    """``connector.ports.Carrier`` over one carrier account reached through karrio."""

    slug = "karrio"

    def __init__(self, credentials: Credentials, context: AdapterContext) -> None:
        settings = credentials.settings
        self._carrier_name = str(settings.get("carrier_name") or "").strip()
        if not self._carrier_name:
            raise PermanentError(
                'a karrio account needs settings["carrier_name"], e.g. "dhl_express" or "ups"'
            )
        self._label_type = str(settings.get("label_type") or "PDF").upper()
        if self._label_type not in mapper.LABEL_TYPES:
            raise PermanentError(
                f'settings["label_type"] must be one of {", ".join(mapper.LABEL_TYPES)}, '
                f"not {settings.get('label_type')!r}"
            )
        self._services = _strings(settings.get("services"), "services")
        self._options = _mapping(settings.get("options"), "options")
        self._customs_description = str(settings.get("customs_description") or "Returned goods")
        self._credentials = credentials
        self._context = context
        try:
            # karrio is an optional extra: without it the registry still loads this class,
            # and an account that uses it is refused with the way to fix it.
            from .client import KarrioApi
        except ImportError as error:
            raise PermanentError(
                f"karrio is not installed here ({error.name}); install {EXTRA}"
            ) from error
        self._api = KarrioApi(
            self._carrier_name,
            connection(credentials),
            session=context.http,
            timeout=float(settings.get("timeout", DEFAULT_TIMEOUT)),
        )

    # --- Carrier -------------------------------------------------------------------------

    def quote(self, shipment: Shipment) -> list[RateQuote]:
        """The carrier's rates from the buyer to the destination, cheapest first. The
        shipment's export reference (the goods' original export declaration) is cited in the
        customs remarks of a cross-border return."""
        request = mapper.rate_request(
            shipment,
            services=self._services,
            options=self._options,
            export_reference=shipment.export_reference,
            customs_description=self._customs_description,
        )
        rates = self._api.rates(request)
        return mapper.rate_quotes(rates, self._carrier_name, self._credentials.external_id)

    def buy(
        self,
        shipment: Shipment,
        quote: RateQuote,
        idempotency_key: str,
    ) -> Label:
        """Buy the quoted service as a return shipment where the carrier has one."""
        if quote.carrier != self.slug:
            raise PermanentError(f"a {quote.carrier!r} quote cannot be bought from {self.slug}")
        if quote.account != self._credentials.external_id:
            raise PermanentError(
                f"quote is for account {quote.account!r}, not {self._credentials.external_id!r}"
            )
        if not idempotency_key:
            raise PermanentError("buying a label needs an idempotency key")
        as_return = shipment.is_return and self._api.supports("create_return_shipment")
        request = mapper.shipment_request(
            shipment,
            carrier_name=self._carrier_name,
            service=mapper.karrio_service(self._carrier_name, quote.service),
            label_type=self._label_type,
            as_return=as_return,
            options=self._options,
            export_reference=shipment.export_reference,
            customs_description=self._customs_description,
        )
        details = self._api.create_shipment(request)
        return mapper.label(details, quote, self._label_type, self._carrier_name)

    def void(self, label: Label) -> None:
        """Cancel the shipment with the carrier. A carrier whose karrio extension cannot
        cancel (DHL Express) is told nothing: its label stays unused and lapses."""
        if not label.external_id and not label.tracking_number:
            raise PermanentError("a label without a shipment id or tracking number")
        if not self._api.supports("cancel_shipment"):
            return
        service = label.service.removeprefix(f"{self._carrier_name}{mapper.SERVICE_SEPARATOR}")
        self._api.cancel_shipment(mapper.cancel_request(label, service))

    def track(self, tracking_number: str) -> list[TrackingEvent]:
        """The parcel's scans, oldest first; none while the carrier has none.

        ``tracking_number`` is the carrier's number, bare or as ``<carrier>/<number>`` (how
        the tracking poll names a label's ``tracking_carrier``)."""
        carrier_name, _, number = tracking_number.rpartition("/")
        if carrier_name and carrier_name != self._carrier_name:
            raise PermanentError(
                f"{tracking_number!r} is a {carrier_name} number; this account is "
                f"{self._carrier_name}"
            )
        if not number:
            raise PermanentError(f"no tracking number in {tracking_number!r}")
        events: list[TrackingEvent] = []
        for details in self._api.track(number):
            events.extend(mapper.tracking_events(details))
        return sorted(events, key=lambda event: event.occurred_at)


def connection(credentials: Credentials) -> dict[str, Any]:
    """The karrio settings of the account's carrier: its secrets as karrio names them, and
    ``test_mode`` / ``config`` from the account's settings."""
    settings = credentials.settings
    fields: dict[str, Any] = {**credentials.secrets, "id": credentials.external_id}
    fields["test_mode"] = bool(settings.get("test_mode", False))
    if settings.get("config"):
        fields["config"] = dict(_mapping(settings.get("config"), "config"))
    return fields


def _strings(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PermanentError(f'settings["{name}"] must be a list of karrio codes, not {value!r}')
    return tuple(value)


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PermanentError(f'settings["{name}"] must be an object, not {value!r}')
    return value
