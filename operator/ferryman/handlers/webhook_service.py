"""Point the registry webhook Service at this replica once it listens (builders.webhook_endpoint says why)."""

from __future__ import annotations

import logging

from ferryman import k8s
from ferryman.builders.webhook_endpoint import build_webhook_endpoint_slice, webhook_slice_name
from ferryman.config import Settings
from ferryman.handlers.leader_election import pod_namespace

log = logging.getLogger("ferryman.registry")


def point_webhook_service_here(config: Settings, port: int) -> None:
    """Apply the Service's EndpointSlice with this pod's IP; say so, or why not, in the log.

    Never raises: out of a startup handler an error would make Kopf run the handler again and bind the
    webhook port a second time. Polling sees every alias move anyway, only later, and the next leader
    tries again.
    """
    name = config.registry_webhook_service
    try:
        namespace = config.leader_election_namespace or pod_namespace()
    except ValueError as error:
        log.error("registry webhook Service %s not pointed at this replica: %s", name, error)
        return
    where = f"registry webhook Service {namespace}/{name}"
    try:
        service = k8s.get(k8s.SERVICE, namespace, name)
        if service is None:
            log.error(
                "%s not found: create it without a selector (the chart does when "
                "operator.registryWebhookSecret.name is set); until then deliveries reach no replica and "
                "alias moves are seen by polling",
                where,
            )
            return
        k8s.apply(build_webhook_endpoint_slice(service, config.pod_ip, port), config.field_manager)
    except Exception as error:
        log.error("%s not pointed at this replica: %s", where, error)
        return
    log.info(
        "%s points at this replica: EndpointSlice %s, %s port %s",
        where,
        webhook_slice_name(name),
        config.pod_ip,
        port,
    )
