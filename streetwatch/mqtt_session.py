"""The paho client a service (ingester, rule runner) holds its broker session with.

MQTT 3.1.1 (cheaper per message than 5 in paho, DESIGN s.8), manual acks (a message is acked once
what it caused is stored), the endpoint's account and TLS, and reconnects backing off to 30 s.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from streetwatch.settings import MqttEndpoint


def service_client(endpoint: MqttEndpoint, client_id: str, clean_session: bool = False
                   ) -> mqtt.Client:
    """A manual-ack client for `endpoint`; persistent session unless `clean_session`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, protocol=mqtt.MQTTv311, manual_ack=True)
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password.get_secret_value()
                               if endpoint.password else None)
    if endpoint.tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
