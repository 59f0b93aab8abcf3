"""GET /metrics for Prometheus, on the metrics port only (metrics_port in the settings).

Gunicorn listens on the app's port (S1's, open to the balancer) and on the metrics port (open
to the monitoring node only). A request on the metrics port gets the metrics for GET /metrics
and a 404 for anything else; on the app's port /metrics is no route at all, so the visitors S1
sends there get the plain 404 page.
"""

from __future__ import annotations

from flask import Blueprint, abort, request

from extagram import metrics

bp = Blueprint("metrics", __name__)


@bp.before_app_request
def metrics_port_serves_metrics_only():
    # Registered first (app.py): no other hook runs for the metrics port's requests.
    if not metrics.on_metrics_port():
        return None
    if request.method != "GET" or request.path != "/metrics":
        abort(404)
    return metrics.exposition()
