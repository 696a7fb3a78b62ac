"""Token authentication of API clients: ``Authorization: Token <prefix>.<secret>``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from registry import api_clients
from registry.models import ApiClient


class ApiClientUser:
    """The principal of an API request: not a Django user, never staff, holds no memberships."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def get_username(self) -> str:
        return f"api-client:{self.client.name}"

    def __str__(self) -> str:
        return self.get_username()


class ApiTokenAuthentication(BaseAuthentication):
    """Look the client up by its token prefix, compare the token's hash in constant time, refuse revoked and
    expired tokens (401). The client comes with the codes of the centres it reads, in the same query, never
    cached across requests: a revocation or a change of centres applies to the very next request (the time of
    use is recorded with the request log: :func:`registry.api_clients.api_request_record`)."""

    keyword = api_clients.TOKEN_KEYWORD

    def authenticate(self, request: Request) -> tuple[ApiClientUser, ApiClient] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed token; expected 'Token <prefix>.<secret>'."))
        try:
            token = parts[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Malformed token; expected 'Token <prefix>.<secret>'."))
        try:
            client = api_clients.client_for_token(token)
        except api_clients.TokenProblem as problem:
            raise exceptions.AuthenticationFailed(str(problem))
        return ApiClientUser(client), client

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="registry-api"'


def client_of(request: Any) -> ApiClient | None:
    """The authenticated client of a DRF request, without triggering authentication."""
    auth = getattr(request, "_auth", None)
    return auth if isinstance(auth, ApiClient) else None
