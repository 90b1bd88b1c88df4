"""The OpenSSL settings Python's ssl module does not expose, and real servers use: automatic DH
groups (`SSL_CTX_set_dh_auto`, as Postfix sets it), the key-exchange group list
(`SSL_CTX_set1_groups_list`) and the TLS 1.3 suites (`SSL_CTX_set_ciphersuites`: GnuTLS offers
AES-128-CCM). Set through libssl itself on the context's own SSL_CTX.

CPython keeps the SSL_CTX pointer right after the object header of an SSLContext. That layout is
no public API, so the pointer is trusted only after OpenSSL, asked for that SSL_CTX's options,
answers exactly what the SSLContext says, before and after a change only that context could make.
Otherwise nothing is set and the caller is told: a persona then shows OpenSSL's defaults there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ssl
import sys
from typing import Any

SSL_CTRL_SET_SESS_CACHE_MODE = 44
SSL_CTRL_SET_TLSEXT_SERVERNAME_CB = 53
SSL_CTRL_SET_GROUPS_LIST = 92
SSL_CTRL_SET_DH_AUTO = 118
SSL_SESS_CACHE_OFF = 0
# Postfix's mode without smtpd_tls_session_cache_database: session ids issued, none kept
SSL_SESS_CACHE_ISSUE_ONLY = 0x0002 | 0x0080 | 0x0200  # SERVER | NO_AUTO_CLEAR | NO_INTERNAL_STORE


def _libssl() -> ctypes.CDLL | None:
    """The libssl the ssl module uses (already loaded in this process), or None."""
    for name in (f"libssl.so.{ssl.OPENSSL_VERSION_INFO[0]}", ctypes.util.find_library("ssl")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        return lib
    return None


def _ssl_ctx(context: ssl.SSLContext, lib: ctypes.CDLL) -> int | None:
    """The SSL_CTX behind `context`, once OpenSSL confirms it (see the module's notes)."""
    if sys.implementation.name != "cpython" or ssl.OPENSSL_VERSION_INFO[0] < 3:
        return None
    pointer = ctypes.c_void_p.from_address(id(context) + sys.getsizeof(object())).value
    if not pointer or pointer % 8:
        return None
    before = context.options
    if lib.SSL_CTX_get_options(pointer) != before:
        return None
    context.options = before ^ ssl.OP_NO_TICKET  # a change only this context can make ...
    seen = lib.SSL_CTX_get_options(pointer)
    context.options = before
    return pointer if seen == before ^ ssl.OP_NO_TICKET and lib.SSL_CTX_get_options(pointer) == before else None


# SSL_CTX_set_session_ticket_cb's decrypt callback: (SSL *, SSL_SESSION *, keyname, its length,
# SSL_TICKET_STATUS, arg) -> SSL_TICKET_RETURN.
_DECRYPT_TICKET = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_int, ctypes.c_void_p)
SSL_TICKET_FATAL_ERR_OTHER, SSL_TICKET_SUCCESS = 1, 5  # SUCCESS_RENEW is 6
SSL_TICKET_RETURN_ABORT, SSL_TICKET_RETURN_IGNORE_RENEW, SSL_TICKET_RETURN_USE = 0, 2, 3


def _use_without_renewal(ssl_: int, session: int, keyname: int, length: int, status: int, arg: int) -> int:
    """A ticket that decrypts is used and not renewed (Postfix's ticket key callback returns 1, so
    OpenSSL sends no new ticket after a resumption); one that does not gets a full handshake."""
    if status <= SSL_TICKET_FATAL_ERR_OTHER:
        return SSL_TICKET_RETURN_ABORT
    return SSL_TICKET_RETURN_USE if status >= SSL_TICKET_SUCCESS else SSL_TICKET_RETURN_IGNORE_RENEW


_NO_RENEWAL = _DECRYPT_TICKET(_use_without_renewal)  # module-wide: OpenSSL keeps the pointer


# SSL_CTX_set_verify's callback: (preverify_ok, X509_STORE_CTX *) -> ok
_VERIFY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
SSL_VERIFY_PEER = 1


def _take_any(preverify_ok: int, store: int) -> int:
    """Sendmail's tls_verify_cb for a server: whatever certificate the client shows is taken."""
    return 1


_TAKE_ANY = _VERIFY(_take_any)  # module-wide: OpenSSL keeps the pointer


# The server-name callback: (SSL *, int *alert, void *arg) -> SSL_TLSEXT_ERR_*
_SERVER_NAME = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
SSL_TLSEXT_ERR_OK, SSL_TLSEXT_ERR_NOACK = 0, 3
_ACKS: dict[bytes, Any] = {}  # one callback per name, kept: OpenSSL holds the pointers


def _acknowledging(lib: ctypes.CDLL, name: bytes) -> Any:
    """A server-name callback that acknowledges `name` (OpenSMTPD's smtp_sni_callback: a pki of
    that name), and no other."""
    if name not in _ACKS:
        lib.SSL_get_servername.restype = ctypes.c_char_p
        lib.SSL_get_servername.argtypes = [ctypes.c_void_p, ctypes.c_int]

        def answer(ssl_: int, alert: int, arg: int) -> int:
            return SSL_TLSEXT_ERR_OK if lib.SSL_get_servername(ssl_, 0) == name else SSL_TLSEXT_ERR_NOACK

        _ACKS[name] = _SERVER_NAME(answer)
    return _ACKS[name]


def tune(context: ssl.SSLContext, dh_auto: bool, groups: str, tls13_suites: str = "", client_ca_file: str = "",
         session_timeout: int = 0, session_cache: bool = True, acknowledged_name: str = "",
         session_ids_kept: bool = True) -> str:
    """Set DH auto, the group list and the TLS 1.3 suites on `context`, and tickets that are not
    renewed on resumption; with `client_ca_file`, ask for a client certificate naming that file's
    certificates as the accepted authorities and take any; with `session_timeout`, that session
    timeout (a TLS 1.2 ticket's lifetime hint); without `session_cache`, no session cache (no
    session id in a TLS 1.2 ServerHello); without `session_ids_kept`, session ids issued but none
    kept (a client resuming by id gets a full handshake); with `acknowledged_name`, a server-name
    callback that acknowledges a client's SNI of that name. Returns "" or why it could not."""
    lib = _libssl()
    pointer = _ssl_ctx(context, lib) if lib is not None else None
    if lib is None or pointer is None:
        return "this Python's ssl module keeps its OpenSSL context out of reach"
    lib.SSL_CTX_set_session_ticket_cb.restype = ctypes.c_int
    lib.SSL_CTX_set_session_ticket_cb.argtypes = [ctypes.c_void_p, ctypes.c_void_p, _DECRYPT_TICKET, ctypes.c_void_p]
    if lib.SSL_CTX_set_session_ticket_cb(pointer, None, _NO_RENEWAL, None) != 1:
        return "OpenSSL refused the session ticket callback"
    if dh_auto and lib.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_DH_AUTO, 1, None) != 1:
        return "OpenSSL refused automatic DH groups"
    if groups:
        names = ctypes.c_char_p(groups.encode("ascii"))
        if lib.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_GROUPS_LIST, 0, ctypes.cast(names, ctypes.c_void_p)) != 1:
            return f"OpenSSL refused the group list {groups!r}"
    if client_ca_file:
        lib.SSL_load_client_CA_file.restype = ctypes.c_void_p
        lib.SSL_load_client_CA_file.argtypes = [ctypes.c_char_p]
        names = lib.SSL_load_client_CA_file(client_ca_file.encode())
        if not names:
            return f"OpenSSL could not read the authorities in {client_ca_file}"
        lib.SSL_CTX_set_client_CA_list.restype = None
        lib.SSL_CTX_set_client_CA_list.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.SSL_CTX_set_client_CA_list(pointer, names)  # the context owns the list now
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY]
        lib.SSL_CTX_set_verify(pointer, SSL_VERIFY_PEER, _TAKE_ANY)
    if session_timeout:
        lib.SSL_CTX_set_timeout.restype = ctypes.c_long
        lib.SSL_CTX_set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_long]
        lib.SSL_CTX_set_timeout(pointer, session_timeout)
    if not session_cache:
        lib.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_OFF, None)
    elif not session_ids_kept:
        lib.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_ISSUE_ONLY, None)
    if acknowledged_name:
        lib.SSL_CTX_callback_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_callback_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        callback = _acknowledging(lib, acknowledged_name.encode("ascii", "replace"))
        lib.SSL_CTX_callback_ctrl(pointer, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, ctypes.cast(callback, ctypes.c_void_p))
    if tls13_suites:
        lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
        lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        if lib.SSL_CTX_set_ciphersuites(pointer, tls13_suites.encode("ascii")) != 1:
            return f"OpenSSL refused the TLS 1.3 suites {tls13_suites!r}"
    return ""
