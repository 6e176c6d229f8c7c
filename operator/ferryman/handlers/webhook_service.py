"""Keep the registry webhook Service pointed at this replica while it listens (builders.webhook_endpoint
says why the Service has no selector)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from ferryman import k8s
from ferryman.builders.webhook_endpoint import build_webhook_endpoint_slice, points_as_wanted
from ferryman.config import Settings
from ferryman.handlers.leader_election import pod_namespace

log = logging.getLogger("ferryman.registry")


async def keep_webhook_service_here(config: Settings, port: int, executor: Executor) -> None:
    """Check every poll period that the Service's EndpointSlice points here, and point it here if not.

    Once is not enough: the Service may not exist yet, the API server may not answer, a Service deleted
    and created again takes its slice with it (the garbage collector), and the old slice of a recreated
    Service must be gone before ours can be written. A check that finds the slice right writes nothing.
    Logs a line when the outcome changes, not every period.
    """
    said: tuple[bool, str] | None = None
    while True:
        outcome = await asyncio.get_running_loop().run_in_executor(
            executor, point_webhook_service_here, config, port
        )
        if outcome != said:
            pointed, text = outcome
            (log.info if pointed else log.error)("registry webhook Service %s", text)
            said = outcome
        await asyncio.sleep(config.registry_poll_seconds)


def point_webhook_service_here(config: Settings, port: int) -> tuple[bool, str]:
    """Make the Service's EndpointSlice name this pod's IP and port: (done, what was found or done).

    Never raises: polling sees every alias move anyway, only later, and the next check tries again.
    """
    name = config.registry_webhook_service
    try:
        namespace = config.leader_election_namespace or pod_namespace()
        service = k8s.get(k8s.SERVICE, namespace, name)
        if service is None:
            return False, (
                f"{name} not found in {namespace}: create it without a selector (the chart does when "
                "operator.registryWebhookSecret.name is set); until then alias moves are seen by polling"
            )
        wanted = build_webhook_endpoint_slice(service, config.pod_ip, port)
        slice_name = wanted["metadata"]["name"]
        if not points_as_wanted(k8s.get(k8s.ENDPOINT_SLICE, namespace, slice_name), wanted):
            k8s.apply(wanted, config.field_manager)
    except Exception as error:
        return False, f"{name} not pointed at this replica: {error}"
    here = f"{config.pod_ip} port {port}, EndpointSlice {slice_name}"
    return True, f"{namespace}/{name} points at this replica ({here})"
