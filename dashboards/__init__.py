"""Grafana dashboards as code (to come): JSON models, provisioning files, push via grafana-client."""
