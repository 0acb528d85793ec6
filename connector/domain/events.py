"""What happened to a return, in the past tense: the kinds of event its ledger records."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    RETURN_REQUESTED = "ReturnRequested"
    # the buyer withdrew from the contract (EU Consumer Rights Directive art. 11a)
    WITHDRAWAL_DECLARED = "WithdrawalDeclared"
    RETURN_DECIDED = "ReturnDecided"
    RETURN_REVIEWED = "ReturnReviewed"
    RETURN_ROUTED = "ReturnRouted"
    LABEL_ISSUED = "LabelIssued"
    LABEL_VOIDED = "LabelVoided"
    DROPOFF_CODE_ISSUED = "DropOffCodeIssued"
    RETURNLESS_GRANTED = "ReturnlessGranted"
    OWN_SHIPMENT_REQUESTED = "OwnShipmentRequested"
    OWN_SHIPMENT_SENT = "OwnShipmentSent"
    PARCEL_SCANNED = "ParcelScanned"
    RETURN_RECEIVED = "ReturnReceived"
    RETURN_INSPECTED = "ReturnInspected"
    REFUND_REQUESTED = "RefundRequested"
    REFUND_ISSUED = "RefundIssued"
    REFUND_FAILED = "RefundFailed"
    # the platform may or may not have made it: a person checks, then settles it
    REFUND_UNCERTAIN = "RefundUncertain"
    RETURN_RESOLVED = "ReturnResolved"
    RETURN_CLOSED = "ReturnClosed"
    RETURN_CANCELED = "ReturnCanceled"
    RETURN_EXPIRED = "ReturnExpired"
    PLATFORM_UPDATED = "PlatformUpdated"
