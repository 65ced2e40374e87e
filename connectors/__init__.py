"""Upstream connectors: one module per upstream kind behind `connectors.base.Connector`.

This package never imports `gateway`.
"""
