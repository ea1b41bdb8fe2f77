"""Federation errors: domain errors the CLI and API map like every other registry error."""

from __future__ import annotations

from registry.errors import Conflict, NotFound, RegistryError, ValidationError


class NodeNotInitialised(NotFound):
    code = "node_not_initialised"

    def __init__(self) -> None:
        super().__init__(
            "this node has no federation identity yet: run `iti node init --country XX --url URL`",
            field="node",
        )


class NodeAlreadyInitialised(Conflict):
    code = "node_already_initialised"


class NoPeer(NotFound):
    code = "no_peer"


class MessageNotFound(NotFound):
    code = "message_not_found"


class PeerConflict(Conflict):
    code = "peer_conflict"


class UntrustedDirectory(ValidationError):
    code = "untrusted_directory"


class InvalidFederationInput(ValidationError):
    code = "invalid_federation_input"


class FederationKeyError(RegistryError):
    code = "federation_key"


class KeyRotationRefused(ValidationError):
    """A key rotation announcement that must not change the directory (bad proof of possession, another
    state's key, not signed by the key it retires, a key already replaced)."""

    code = "key_rotation_refused"
