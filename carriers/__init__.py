"""Carrier adapters: one package per carrier, each implementing ``connector.ports.Carrier``.

``ratecard`` prices parcels from CSV rate cards and draws its own intake labels; ``dropoff``
issues QR codes for box-free drop-off points. ``labels`` renders the 4x6 labels and vouchers
both of them hand to buyers, and ``simulation`` stands in for the tracking API neither has.
"""
