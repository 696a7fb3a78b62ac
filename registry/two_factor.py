"""Two-factor authentication with a time-based one-time code (TOTP, RFC 6238; django-otp).

* :func:`otp_verify` — after the password, a user with a confirmed device enters the 6-digit code of their
  authenticator app (:class:`registry.middleware.TwoFactorMiddleware` sends them here and keeps them here).
* :func:`otp_setup` — any logged-in user may set up a device: the page shows the ``otpauth://`` URI, the
  secret as text and a QR code drawn here (segno, no external service); the first accepted code confirms the
  device, replaces any earlier one and verifies the session.

Wrong codes slow down the device (django-otp's throttling doubles the wait after each failure); every
accepted and refused code and every set-up is in the access log.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.access_events import SESSION_OTP_REQUIRED, access_event_record
from registry.models import AccessEventKind

SESSION_PENDING_KEY = "registry_otp_pending_key"
DEVICE_NAME = "authenticator"


class TokenForm(forms.Form):
    token = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "size": 8}
        ),
    )

    def clean_token(self) -> str:
        token = re.sub(r"\s+", "", self.cleaned_data["token"])
        if not re.fullmatch(r"\d{6}", token):
            raise forms.ValidationError(gettext_lazy("Enter the 6 digits shown by your authenticator app."))
        return token


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return resolve_url("home")


def _verified(request: HttpRequest, device: TOTPDevice) -> None:
    """Mark the session as verified by ``device`` (a new session key: the privilege changed)."""
    request.session.cycle_key()
    otp_login(request, device)
    request.session[SESSION_OTP_REQUIRED] = True


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True))
    if not devices:
        return HttpResponseRedirect(_next_url(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            accepted = None
            waiting = []
            for device in TOTPDevice.objects.devices_for_user(user, confirmed=True).select_for_update():
                allowed, info = device.verify_is_allowed()
                if not allowed:
                    waiting.append(info or {})
                    continue
                if device.verify_token(form.cleaned_data["token"]):
                    accepted = device
                    break
        if accepted is not None:
            _verified(request, accepted)
            access_event_record(
                kind=AccessEventKind.OTP_VERIFIED, user=user, request=request, object_ref=accepted.name
            )
            return HttpResponseRedirect(_next_url(request))
        access_event_record(kind=AccessEventKind.OTP_FAILED, user=user, request=request)
        if waiting and len(waiting) == len(devices):
            until = min((w.get("locked_until") for w in waiting if w.get("locked_until")), default=None)
            seconds = max(int((until - timezone.now()).total_seconds()) + 1, 1) if until else 1
            form.add_error(
                "token",
                ngettext(
                    "Too many wrong codes: wait %(seconds)d second, then enter the current code.",
                    "Too many wrong codes: wait %(seconds)d seconds, then enter the current code.",
                    seconds,
                )
                % {"seconds": seconds},
            )
        else:
            form.add_error("token", _("This code is wrong or has expired; enter the current one."))
    return render(request, "registration/otp_verify.html", {"form": form, "next": _next_url(request)})


def _qr_svg_data_uri(uri: str) -> str:
    import segno

    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    # The pending secret lives in the session until a code confirms it (a reload shows the same secret).
    key = request.session.get(SESSION_PENDING_KEY)
    if not key:
        key = secrets.token_hex(20)
        request.session[SESSION_PENDING_KEY] = key
    # An unsaved device gives the otpauth:// URI (issuer, account, secret) the apps expect.
    device = TOTPDevice(user=user, name=DEVICE_NAME, key=key, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        if totp.verify(int(form.cleaned_data["token"]), device.tolerance):
            with transaction.atomic():
                TOTPDevice.objects.filter(user=user).delete()  # the new device replaces the old ones
                device.confirmed = True
                device.last_t = totp.t()  # the code just used cannot be used again
                device.save()
            del request.session[SESSION_PENDING_KEY]
            _verified(request, device)
            access_event_record(
                kind=AccessEventKind.OTP_ENROLLED, user=user, request=request, object_ref=device.name
            )
            messages.success(
                request,
                _("Two-factor authentication is set up: after your password you will be asked for a code."),
            )
            return HttpResponseRedirect(_next_url(request))
        form.add_error(
            "token",
            _("This code does not match the new secret; check the phone's clock, enter the current code."),
        )
    uri = device.config_url
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/otp_setup.html",
        {
            "form": form,
            "otpauth_uri": uri,
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr_data_uri": _qr_svg_data_uri(uri),
            "has_device": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
            "next": _next_url(request),
        },
    )
