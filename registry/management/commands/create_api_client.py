"""``python manage.py create_api_client NAME --centre CODE [--centre CODE ...] [--all-centres]
[--expires-days N] [--purpose TEXT] [--resource-group G ...] [--may-see-centres]`` — prints the token once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from registry.api_clients import DEFAULT_EXPIRY_DAYS, RESOURCE_GROUPS, api_client_create
from registry.management.base import RegistryCommand
from registry.models import Centre


class Command(RegistryCommand):
    help = "Create an API client of the de-identified REST API and print its token (shown only this once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="Unique name of the client, e.g. 'EBMT pooled analysis 2027'.")
        parser.add_argument(
            "--centre", action="append", default=[], metavar="CODE", help="Centre code (repeat for more)."
        )
        parser.add_argument("--all-centres", action="store_true", help="Every centre, present and future.")
        parser.add_argument("--expires-days", type=int, default=DEFAULT_EXPIRY_DAYS, metavar="N")
        parser.add_argument(
            "--purpose", default="", help="Which analysis or collaboration (default: the name)."
        )
        parser.add_argument(
            "--resource-group",
            action="append",
            choices=list(RESOURCE_GROUPS),
            metavar="GROUP",
            help=f"Resource group to grant (repeat for more; default all: {', '.join(RESOURCE_GROUPS)}).",
        )
        parser.add_argument("--may-see-centres", action="store_true", help="Show centre codes, not C1, C2 …")

    def handle(self, *args: Any, **options: Any) -> None:
        codes = [code.strip().upper() for code in options["centre"]]
        centres = list(Centre.objects.filter(code__in=codes))
        missing = sorted(set(codes) - {c.code for c in centres})
        if missing:
            raise CommandError(f"Unknown centre code(s): {', '.join(missing)}.")
        try:
            issued = api_client_create(
                name=options["name"],
                purpose=options["purpose"] or options["name"],
                created_by=self.system_user,
                centres=centres,
                all_centres=options["all_centres"],
                may_see_centres=options["may_see_centres"],
                resource_groups=options["resource_group"],
                expires_days=options["expires_days"],
            )
        except ValidationError as exc:
            messages = (
                [f"{field}: {'; '.join(msgs)}" for field, msgs in exc.message_dict.items()]
                if hasattr(exc, "message_dict")
                else exc.messages
            )
            raise CommandError(" ".join(messages)) from exc
        client = issued.client
        scope = "all centres" if client.all_centres else ", ".join(sorted(c.code for c in centres))
        self.stderr.write(
            f"Created API client '{client.name}' ({scope}; groups {', '.join(client.resource_groups)}; "
            f"expires {client.expires_at:%Y-%m-%d}). The token is shown only now:"
        )
        self.stdout.write(issued.token)
