"""Platform adapters: one package per marketplace, each implementing the ports it can.

The registry finds them through the ``helloword.platforms`` entry points; nothing in the core
imports this package by name.
"""
