"""A small HTTP client for the runner's own requests: signing in, the smoke checks and the 10 MB upload.

Every request says X-Forwarded-Proto: https, as the TLS-terminating proxy of docker-compose.yml does, so the
production settings' Secure cookies and CSRF origin checks work as they do behind it.
"""

import http.client
import os
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from bench.common import PASSWORD


@dataclass
class Response:
    status: int
    cookies: dict[str, str]
    location: str
    text: str


class Client:
    def __init__(self, port: int):
        self.port = port
        self.host = f"127.0.0.1:{port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        session: dict | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> Response:
        sent = {"Host": self.host, "X-Forwarded-Proto": "https", **(headers or {})}
        jar = {**(session or {}).get("cookies", {}), **(cookies or {})}
        if jar:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        if method == "POST":
            sent.update({"Origin": f"https://{self.host}", "Referer": f"https://{self.host}{path}"})
            if session:
                sent["X-CSRFToken"] = session["csrf"]
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            received: dict[str, str] = {}
            for header in response.msg.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                received.update({name: morsel.value for name, morsel in cookie.items()})
            return Response(response.status, received, response.getheader("Location", ""), text)
        finally:
            connection.close()

    def upload(self, path: str, *, session: dict, size: int) -> Response:
        """A reply with one attached file of `size` bytes (random, so nothing on the way compresses it)."""
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in {
            "body": "The signed contract is attached.",
            "client_token": str(uuid.uuid4()),
        }.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="contract.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n".encode()
        )
        parts += [b"%PDF-1.4\n", os.urandom(size - 9), f"\r\n--{boundary}--\r\n".encode()]
        return self.request(
            "POST",
            path,
            session=session,
            body=b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )


def login(port: int, email: str) -> dict:
    """Signs in through /accounts/login/ (email and password, with the CSRF cookie and token) and returns
    the session's cookies and CSRF token, which the load generator sends as they are."""
    client = Client(port)
    page = client.request("GET", "/accounts/login/")
    cookies = dict(page.cookies)
    token = cookies["csrftoken"]
    answer = client.request(
        "POST",
        "/accounts/login/",
        body=urlencode({"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"https://{client.host}",
            "Referer": f"https://{client.host}/accounts/login/",
        },
        cookies=cookies,
    )
    if answer.status != 302 or "sessionid" not in answer.cookies:
        raise SystemExit(f"signing in as {email} failed: {answer.status}")
    cookies.update(answer.cookies)
    return {
        "email": email,
        "cookies": cookies,
        "cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "csrf": cookies["csrftoken"],
    }
