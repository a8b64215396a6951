"""A real SMTP server on loopback for the e-mail alert tests (aiosmtpd).

Writes each message it accepts to OUT_DIR/<n>.eml (with an X-Test-Auth-User header naming the
user who authenticated, if any) and prints "READY <port>" once it listens. The password it
accepts comes from the environment (QCB_TEST_SMTP_PASSWORD), never from the command line.

    python3 smtp_server.py OUT_DIR MODE [CERT KEY]     MODE: plain | starttls | tls
"""

import asyncio
import logging
import warnings
import os
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Saver:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""
        path = os.path.join(self.out_dir, f"{self.n:04}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Test-Auth-User: {user}\r\n".encode())
            f.write(f"X-Test-Rcpt: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    want = os.environ.get("QCB_TEST_SMTP_PASSWORD", "")
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"alerts"
        and want
        and auth_data.password == want.encode()
    )
    # handled=False: aiosmtpd answers 535 itself (by default it leaves the answer to us).
    return AuthResult(success=bool(ok), handled=False, auth_data=auth_data)


def main():
    # aiosmtpd warns about its own use of a deprecated attribute.
    warnings.filterwarnings("ignore", message="Session.login_data")
    # A client that gives up in the TLS handshake (the unknown-CA test) is expected here.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    out_dir, mode = sys.argv[1], sys.argv[2]
    kwargs = {"authenticator": authenticator}
    if mode in ("starttls", "tls"):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
        else:
            kwargs.update(ssl_context=ctx, auth_require_tls=False)
    else:
        kwargs.update(auth_require_tls=False)
    port = free_port()
    controller = Controller(Saver(out_dir), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
