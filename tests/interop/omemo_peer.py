#!/usr/bin/env python3
"""An OMEMO peer backed by python-omemo's own backends, for Sotto's interop tests.

Speaks JSON lines on stdin/stdout: one request object per line, one response
per line ({"ok": ...} or {"error": "..."}). All cryptography is done by the
PyPI packages oldmemo / twomemo (which drive x3dh, doubleratchet and xeddsa);
this file only wires them up the way python-omemo's SessionManager does
(active/passive session building, key-exchange re-use, confirmation) and
builds/checks the XEP-0420 SCE envelope that slixmpp-omemo 2.2.0 lacks.

Bytes travel base64-encoded; XML travels as strings.
"""

import asyncio
import base64
import json
import secrets
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, NamedTuple, Optional, Tuple

import oldmemo
import oldmemo.etree
import twomemo
import twomemo.etree
import xeddsa
from omemo.message import Message
from omemo.storage import Just, Nothing, Storage

SCE_NS = "urn:xmpp:sce:1"
CLIENT_NS = "jabber:client"


class MemoryStorage(Storage):
    def __init__(self) -> None:
        super().__init__(disable_cache=True)
        self.data: Dict[str, Any] = {}

    async def _load(self, key: str):  # type: ignore[override]
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)


class DeviceInfo(NamedTuple):
    device_id: int
    identity_key: bytes


class BundleDirectory:
    """Stands in for the session manager where oldmemo.etree.parse_message needs
    the sender's identity key (0.3 messages lack its Ed25519 sign bit)."""

    def __init__(self) -> None:
        self.bundles: Dict[Tuple[str, str, int], Any] = {}

    async def get_device_information(self, bare_jid: str):
        return frozenset(
            DeviceInfo(device_id, bundle.identity_key)
            for (ns, jid, device_id), bundle in self.bundles.items()
            if jid == bare_jid and ns == oldmemo.oldmemo.NAMESPACE
        )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def xml_to_string(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


def build_sce(text: str, from_jid: str, to_jid: str) -> bytes:
    envelope = ET.Element(f"{{{SCE_NS}}}envelope")
    content = ET.SubElement(envelope, f"{{{SCE_NS}}}content")
    ET.SubElement(content, f"{{{CLIENT_NS}}}body").text = text
    ET.SubElement(envelope, f"{{{SCE_NS}}}rpad").text = secrets.token_urlsafe(secrets.randbelow(40))
    ET.SubElement(envelope, f"{{{SCE_NS}}}time", stamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    ET.SubElement(envelope, f"{{{SCE_NS}}}to", jid=to_jid)
    ET.SubElement(envelope, f"{{{SCE_NS}}}from", jid=from_jid)
    return ET.tostring(envelope, encoding="utf-8")


def open_sce(data: bytes, sender_jid: str, own_jid: str) -> str:
    envelope = ET.fromstring(data)
    if envelope.tag != f"{{{SCE_NS}}}envelope":
        raise ValueError("not an SCE envelope")
    from_elt = envelope.find(f"{{{SCE_NS}}}from")
    if from_elt is None or from_elt.get("jid") != sender_jid:
        raise ValueError("SCE <from> does not match the sender")
    to_elt = envelope.find(f"{{{SCE_NS}}}to")
    if to_elt is not None and to_elt.get("jid") != own_jid:
        raise ValueError("SCE <to> does not match us")
    body = envelope.find(f"{{{SCE_NS}}}content/{{{CLIENT_NS}}}body")
    if body is None:
        raise ValueError("SCE envelope without body")
    return body.text or ""


class Peer:
    def __init__(self, jid: str, device_id: int) -> None:
        self.jid = jid
        self.device_id = device_id
        self.storage = MemoryStorage()
        self.backends = {
            "old": oldmemo.Oldmemo(self.storage),
            "two": twomemo.Twomemo(self.storage),
        }
        self.etree = {"old": oldmemo.etree, "two": twomemo.etree}
        self.directory = BundleDirectory()
        # (ns, jid, device id) -> SessionImpl; python objects mutate in place.
        self.sessions: Dict[Tuple[str, str, int], Any] = {}

    async def bundles(self) -> Dict[str, str]:
        out = {}
        for ns, backend in self.backends.items():
            bundle = await backend.get_bundle(self.jid, self.device_id)
            out[ns] = xml_to_string(self.etree[ns].serialize_bundle(bundle))
        return out

    def learn_bundle(self, ns: str, jid: str, device_id: int, xml: str) -> None:
        bundle = self.etree[ns].parse_bundle(ET.fromstring(xml), jid, device_id)
        self.directory.bundles[(self.backends[ns].namespace, jid, device_id)] = bundle

    async def encrypt(self, ns: str, jid: str, device_id: int, text: Optional[str]) -> str:
        backend = self.backends[ns]
        if text is None:
            content, plain = await backend.encrypt_empty()
        else:
            payload = text.encode("utf-8") if ns == "old" else build_sce(text, self.jid, jid)
            content, plain = await backend.encrypt_plaintext(payload)
        key = (ns, jid, device_id)
        session = self.sessions.get(key)
        if session is None:
            bundle = self.directory.bundles[(backend.namespace, jid, device_id)]
            session, encrypted = await backend.build_session_active(jid, device_id, bundle, plain)
            self.sessions[key] = session
        else:
            encrypted = await backend.encrypt_key_material(session, plain)
        # As python-omemo's SessionManager: until the peer answered, every
        # message carries the key exchange.
        kex = session.key_exchange if not session.confirmed else None
        message = Message(backend.namespace, self.jid, self.device_id, content, frozenset([(encrypted, kex)]))
        return xml_to_string(self.etree[ns].serialize_message(message))

    async def decrypt(self, ns: str, sender_jid: str, xml: str) -> Dict[str, Any]:
        backend = self.backends[ns]
        element = ET.fromstring(xml)
        if ns == "old":
            message = await oldmemo.etree.parse_message(element, sender_jid, self.jid, self.directory)
        else:
            message = twomemo.etree.parse_message(element, sender_jid)
        mine = [
            (ekm, kex) for ekm, kex in message.keys if ekm.device_id == self.device_id and ekm.bare_jid == self.jid
        ]
        if not mine:
            raise ValueError("message not encrypted for this device")
        encrypted, kex = mine[0]
        key = (ns, sender_jid, message.device_id)
        session = self.sessions.get(key)
        if kex is not None and (session is None or not session.key_exchange.builds_same_session(kex)):
            session, plain = await backend.build_session_passive(sender_jid, message.device_id, kex, encrypted)
            self.sessions[key] = session
            await backend.delete_pre_key(session)
        else:
            if session is None:
                raise ValueError("no session")
            plain = await backend.decrypt_key_material(session, encrypted)
        if message.content.empty:
            return {"text": None, "prekey": kex is not None}
        payload = await backend.decrypt_plaintext(message.content, plain)
        text = payload.decode("utf-8") if ns == "old" else open_sce(payload, sender_jid, self.jid)
        return {"text": text, "prekey": kex is not None}


def xeddsa_sign(message: bytes, sign_bit: bool) -> Dict[str, str]:
    """A libsignal-style XEdDSA signature made with python's xeddsa exactly as
    oldmemo signs its signed pre-keys: an identity seed, its private scalar,
    and the Edwards sign bit of the public key moved into byte 63. Seeds are
    drawn until the key has the requested sign bit."""
    while True:
        seed = secrets.token_bytes(32)
        priv = xeddsa.seed_to_priv(seed)
        ed = xeddsa.priv_to_ed25519_pub(priv)
        if bool(ed[31] >> 7) == sign_bit:
            break
    sig = bytearray(xeddsa.ed25519_priv_sign(priv, message, secrets.token_bytes(64)))
    sig[63] |= ed[31] & 0x80
    return {"public": b64(xeddsa.ed25519_pub_to_curve25519_pub(ed)), "signature": b64(bytes(sig))}


def xeddsa_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    ed = xeddsa.curve25519_pub_to_ed25519_pub(public, bool(signature[63] >> 7))
    sig = bytearray(signature)
    sig[63] &= 0x7F
    return bool(xeddsa.ed25519_verify(bytes(sig), ed, message))


async def handle(peer: Optional[Peer], req: Dict[str, Any]) -> Tuple[Optional[Peer], Any]:
    cmd = req["cmd"]
    if cmd == "init":
        peer = Peer(req["jid"], req["device_id"])
        for backend in peer.backends.values():
            # SessionManager.create publishes 100 pre-keys; the backends start with none.
            await backend.generate_pre_keys(100)
        return peer, {"bundles": await peer.bundles()}
    if cmd == "device_list":
        # Parse a device list with python's schema-validating parser and
        # serialize it back with python's serializer.
        etree = oldmemo.etree if req["ns"] == "old" else twomemo.etree
        parsed = etree.parse_device_list(ET.fromstring(req["xml"]))
        identity = unb64(req["ed25519"])
        # A label counts only if python's own check of its signature passes.
        labels = {
            str(k): (v.label if v is not None and await peer.backends["two"].verify_label_signature(v.label, v.signature, identity) else None)
            for k, v in parsed.items()
        }
        return peer, {
            "devices": labels,
            "xml": xml_to_string(etree.serialize_device_list(parsed)),
        }
    if cmd == "xeddsa_sign":
        return peer, xeddsa_sign(unb64(req["message"]), req["sign_bit"])
    if cmd == "xeddsa_verify":
        return peer, xeddsa_verify(unb64(req["public"]), unb64(req["message"]), unb64(req["signature"]))
    if peer is None:
        raise ValueError("send init first")
    if cmd == "bundles":
        return peer, await peer.bundles()
    if cmd == "learn_bundle":
        peer.learn_bundle(req["ns"], req["jid"], req["device_id"], req["xml"])
        return peer, None
    if cmd == "encrypt":
        return peer, await peer.encrypt(req["ns"], req["jid"], req["device_id"], req.get("text"))
    if cmd == "decrypt":
        return peer, await peer.decrypt(req["ns"], req["jid"], req["xml"])
    raise ValueError(f"unknown command {cmd}")


async def main() -> None:
    peer: Optional[Peer] = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            peer, result = await handle(peer, json.loads(line))
            out = {"ok": result}
        except Exception as e:  # reported to the Rust side, which decides
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
