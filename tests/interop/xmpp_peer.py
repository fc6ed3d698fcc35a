#!/usr/bin/env python3
"""An independent OMEMO peer on XMPP for Sotto's interop tests (issue 4).

A real XMPP client built on slixmpp + slixmpp-omemo (python-omemo with the
oldmemo and twomemo backends from PyPI). It logs in over STARTTLS, verifying
the server certificate against exactly the CA given with --ca-file, publishes
its OMEMO device lists and bundles for the chosen namespaces, enables
carbons and sends presence. Then it speaks JSON lines:

stdout (only JSON, one object per line; logs go to stderr):
  {"event":"online","jid":BARE,"full_jid":FULL,"device_id":N,"namespaces":[...]}
  {"event":"message","from":BARE,"to":BARE,"ns":"old"|"two"|null,"device_id":N|null,
   "encrypted":bool,"prekey":bool|null,"body":TEXT|null,"error":REASON|null,
   "carbon":"sent"|"received"|null,"id":ID,"origin_id":ID|null,"type":TYPE,
   "for_devices":[N...]|null}
  {"event":"empty","from":BARE,"ns":...,"device_id":N,"prekey":bool,"carbon":...}
      an empty OMEMO message (session completion / staleness prevention)
  {"event":"message_error","from":JID,"id":ID,"condition":COND,"text":TEXT}
  {"event":"trust_needed","devices":[{"jid","device_id","fingerprint"}]}  (--trust manual)
  {"event":"disconnected","reason":...} / {"event":"error","reason":...}
  Replies to commands carry the command's "req" value, if it had one.

stdin commands (one JSON object per line, optional "req" echoed back):
  {"cmd":"send","to":JID,"body":TEXT,"ns":"old"|"two"}
      -> {"event":"sent","id":ID,"ns":..,"recipients":[{"jid","device_id","prekey"}],
          "skipped":[{"jid","device_id","reason"}]}
  {"cmd":"send_plain","to":JID,"body":TEXT} -> {"event":"sent","id":ID,"ns":null}
  {"cmd":"devices","jid":JID}
      -> {"event":"devices","jid":..,"old":[{"id","fingerprint","trust","active","label"}],"two":[...]}
  {"cmd":"trust"|"distrust","jid":JID,"device_id":N} -> {"event":"trusted"|"distrusted",...}
  {"cmd":"quit"} -> {"event":"bye"}, then the process exits.

Hostile input and benchmarks (tests/bad_input.rs, tests/scenario_bench.rs):
  {"cmd":"send_raw","xml":STANZA} -> {"event":"sent_raw"}
      send an arbitrary stanza as written (checked to be well-formed XML
      first, so the bot's own stream survives); the server stamps "from".
  {"cmd":"encrypt","to":JID,"body":TEXT,"ns":"old"|"two"}
      -> {"event":"encrypted","xml":ENCRYPTED_ELEMENT,"device_id":OWN_ID}
      a real <encrypted/> element for `to`, not sent (the ratchet moves on),
      for a test to tamper with and send with send_raw.
  {"cmd":"publish_raw","node":NODE,"item_id":ID,"xml":PAYLOAD,"options":{FIELD:VALUE}}
      -> {"event":"published"}   publish any payload to one of our own PEP
      nodes (default options: pubsub#access_model=open), e.g. a bundle with
      a bad signature or a device list with 10,000 devices.
  {"cmd":"fetch_raw","jid":JID?,"node":NODE,"item_id":ID?}
      -> {"event":"items","items":[{"id","xml"}]}   (default jid: our own)
  {"cmd":"send_many","to":JID,"ns":..,"count":N,"body_prefix":TEXT}
      -> {"event":"sent_many","count":N,"encrypt_s":S,"elapsed_s":S,"per_second":R}
      N encrypted messages ("<prefix><i>"), device lists fetched once, the
      state file written once at the end; elapsed_s runs until the server
      answered a ping sent after the last message (it has them all).
  {"cmd":"catch_up","decrypt":true,"page_size":250}
      -> {"event":"caught_up","messages":N,"decrypted":N,"empty":N,"errors":N,
          "first_errors":[...],"pages":N,"elapsed_s":S,"fetch_s":S,"per_second":R}
      page through our own MAM archive from the start and decrypt every
      OMEMO message in python-omemo's history-sync mode (pre-keys kept,
      automatic replies held until the end, as Sotto does); the state file
      is written once at the end. decrypt=false only pages (the server's
      share of the time).

Group chats (XEP-0045 members-only, non-anonymous rooms; issue 6):
  {"cmd":"muc_create","room":ROOM,"nick":NICK,"members":[JID...]}
      -> {"event":"muc_joined","room","nick","created":bool,"occupants":[...],"codes":[...]}
      join (creating) the room, submit the owner form (persistent,
      members-only, whois=anyone, archiving on, not public), then grant
      "member" to each of `members`.
  {"cmd":"muc_join","room":ROOM,"nick":NICK}
      -> {"event":"muc_joined","room","nick","created":false,
          "occupants":[{"nick","jid","affiliation","role"}],"codes":[...]}
      no MUC history (maxstanzas=0). A refused join is an error whose
      reason starts with the condition, e.g. "registration-required: ..."
      (also in "condition").
  {"cmd":"muc_leave","room":ROOM} -> {"event":"muc_left","room"}
  {"cmd":"muc_send","room":ROOM,"body":TEXT,"ns":"old"|"two"}
      -> {"event":"sent","id":ID,"ns":..,"recipients":[{"jid","device_id","prekey"}],
          "skipped":[...],"participants":[JID...],"refused":[AFFILIATION...]}
      participants = the owner, admin and member lists (queried now, one
      query each; a refused list falls back to what presences and
      notifications told us) plus the real JIDs of present occupants, minus
      our own bare JID (python-omemo adds our other devices itself). Sent
      as type=groupchat with fallback body, EME, store hint and origin-id
      (= id). For :2 the SCE envelope has <to jid=ROOM/> and <from jid=OUR
      REAL BARE JID/>.
  {"cmd":"muc_send_plain","room":ROOM,"body":TEXT} -> {"event":"sent","id":ID,"ns":null}
  {"cmd":"muc_members","room":ROOM}
      -> {"event":"muc_members","room","lists":{"owner":[..],"admin":[..],"member":[..]},
          "occupants":[{"nick","jid","affiliation","role"}],"refused":[AFFILIATION...]}
  {"cmd":"muc_affiliation","room":ROOM,"jid":JID,"affiliation":AFF}
      -> {"event":"muc_affiliation_set","room","jid","affiliation"}
  {"cmd":"muc_history","room":ROOM,"page_size":100}
      -> {"event":"muc_history","room","messages":[message events, "archived":true]}
      the room's MAM archive from the start, decrypted with the real JID the
      archive carries (<x muc#user><item jid/></x> in the archived message).
  {"cmd":"muc_bench_send","room":ROOM,"ns":..,"count":1,"warmup":0}
      -> {"event":"muc_bench","encrypt_s":S,"bytes":N,"recipients":N,"participants":N,
          "samples":[S...],"sizes":[N...]}
      participants and device lists are fetched first (not timed); each
      sample runs from calling python-omemo's encrypt to the stanza handed
      to the stream; bytes is the serialized stanza. With count>1,
      encrypt_s and bytes are means. warmup messages are encrypted (so the
      sessions exist) but not sent, before the timed ones.
  Events:
  {"event":"message","type":"groupchat","room":ROOM,"nick":NICK,"from":REAL_BARE|null,
   "to":ROOM, ...the 1:1 fields..., "stanza_id":ID|null,"occupant_id":ID|null,
   "header_devices":[N...]|null}
      decrypted with the real JID from the occupant's presence (muc#user
      item jid); an OMEMO message without a key for this device is reported
      with error "not encrypted for this device: ...", never dropped.
  {"event":"reflection","room","nick","id","origin_id","stanza_id"}
      our own message coming back from the room (never decrypted).
  {"event":"muc_affiliation","room","jid","affiliation","nick":NICK|null,"codes":[...]}
      an affiliation changed (occupant presence, or a <message from=ROOM>
      with <x muc#user><item affiliation jid/></x> for members not in the
      room); the next muc_send honours it.
  {"event":"muc_occupant","room","nick","jid","affiliation","role","available":bool,"codes":[...]}
  {"event":"muc_left","room","codes":[...]}   we left or were removed (321, 301, 307)
  {"event":"muc_status","room","codes":[...]}  a status message from the room (104, 170, ...)

Errors never crash the bot: they are answered with {"event":"error","reason":...}.
Undecryptable messages are reported with the reason, never dropped.

The OMEMO:2 plaintext is an XEP-0420 SCE envelope, which slixmpp-omemo 2.2.0
does not build or open: the bot encrypts and decrypts through python-omemo's
SessionManager directly and builds/checks the envelope itself (build_sce from
omemo_peer.py, the non-XMPP peer next to this file).
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import ssl
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

# Keep stdout for JSON only: anything a library prints goes to stderr.
_OUT = sys.stdout
sys.stdout = sys.stderr

import oldmemo  # noqa: E402
import oldmemo.etree  # noqa: E402
import twomemo  # noqa: E402
import twomemo.etree  # noqa: E402
import xeddsa  # noqa: E402
from omemo.session_manager import (  # noqa: E402
    MessageNotForUs,
    NoEligibleDevices,
    NoSession,
    PublicDataInconsistency,
    SenderDistrusted,
    SenderNotFound,
    StillUndecided,
)
from omemo.storage import Just, Nothing, Storage  # noqa: E402
from omemo.types import DeviceInformation  # noqa: E402
from slixmpp import JID, ClientXMPP  # noqa: E402
from slixmpp.plugins import register_plugin  # noqa: E402
from slixmpp.stanza import Message  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import MatchXPath  # noqa: E402
from slixmpp_omemo import TrustLevel, XEP_0384  # noqa: E402
from slixmpp_omemo.xep_0384 import _make_session_manager  # noqa: E402

from omemo_peer import CLIENT_NS, SCE_NS, build_sce  # noqa: E402

log = logging.getLogger("xmpp_peer")

OLD = oldmemo.oldmemo.NAMESPACE  # eu.siacs.conversations.axolotl
TWO = twomemo.twomemo.NAMESPACE  # urn:xmpp:omemo:2
NS_BY_TAG = {"old": OLD, "two": TWO}
TAG_BY_NS = {OLD: "old", TWO: "two"}
CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"
EME_NS = "urn:xmpp:eme:0"
HINTS_NS = "urn:xmpp:hints"
SID_NS = "urn:xmpp:sid:0"
FALLBACK = "I sent you an OMEMO encrypted message but your client doesn't seem to support that."
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = MUC_NS + "#user"
MUC_ADMIN_NS = MUC_NS + "#admin"
MUC_OWNER_NS = MUC_NS + "#owner"
DATA_NS = "jabber:x:data"
MAM_NS = "urn:xmpp:mam:2"
RSM_NS = "http://jabber.org/protocol/rsm"
OCCUPANT_ID_NS = "urn:xmpp:occupant-id:0"
STANZA_ERROR_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PARTICIPANT_AFFILIATIONS = ("owner", "admin", "member")


def emit(obj: Dict[str, Any]) -> None:
    _OUT.write(json.dumps(obj) + "\n")
    _OUT.flush()


def fingerprint(identity_key: bytes) -> str:
    """Hex of the Curve25519 form of the identity key (what python-omemo's
    format_identity_key groups, and what Conversations' QR URIs carry)."""
    return xeddsa.ed25519_pub_to_curve25519_pub(identity_key).hex()


class JsonFileStorage(Storage):
    """python-omemo storage persisted as one JSON file, rewritten atomically
    on every change, so a restarted bot keeps its device and sessions."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.data: Dict[str, Any] = {}
        # While > 0 (send_many, catch_up) changes stay in memory and the
        # file is written once at the end: the benchmarks time python-omemo,
        # not this test bot's JSON file.
        self.deferred = 0
        self.dirty = False
        if os.path.exists(path):
            with open(path, "r", encoding="utf-8") as f:
                self.data = json.load(f)

    def _flush(self) -> None:
        if self.deferred:
            self.dirty = True
            return
        self.dirty = False
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".xmpp-peer-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def defer(self) -> "DeferredWrites":
        return DeferredWrites(self)

    async def _load(self, key: str):  # type: ignore[override]
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key: str, value: Any) -> None:
        self.data[key] = value
        self._flush()

    async def _delete(self, key: str) -> None:
        if self.data.pop(key, None) is not None:
            self._flush()


class DeferredWrites:
    def __init__(self, storage: JsonFileStorage) -> None:
        self.storage = storage

    def __enter__(self) -> None:
        self.storage.deferred += 1

    def __exit__(self, *_exc: Any) -> None:
        self.storage.deferred -= 1
        if not self.storage.deferred and self.storage.dirty:
            self.storage._flush()


class OmemoPlugin(XEP_0384):
    """slixmpp-omemo's plugin with our storage, a trust mode, and only the
    backends (namespaces) the bot was asked to speak."""

    name = "xep_0384"
    description = "OMEMO Encryption (Sotto test peer)"
    dependencies = {"xep_0004", "xep_0030", "xep_0060", "xep_0163", "xep_0280", "xep_0334"}
    default_config = {
        "fallback_message": FALLBACK,
        "json_file_path": None,
        "namespaces": [OLD, TWO],
        "blind_trust": True,
    }

    def plugin_init(self) -> None:
        self._storage_impl = JsonFileStorage(self.json_file_path)
        self._sm: Any = None
        self._sm_task: Optional[asyncio.Task] = None
        super().plugin_init()

    @property
    def storage(self) -> Storage:
        return self._storage_impl

    @property
    def _btbv_enabled(self) -> bool:
        return bool(self.blind_trust)

    async def _devices_blindly_trusted(self, blindly_trusted: FrozenSet[DeviceInformation], identifier: Optional[str]) -> None:
        log.info("blindly trusted: %s", [(d.bare_jid, d.device_id) for d in blindly_trusted])

    async def _prompt_manual_trust(self, manually_trusted: FrozenSet[DeviceInformation], identifier: Optional[str]) -> None:
        # Nobody to ask: leave them undecided (encryption then fails with
        # StillUndecided) and tell the driver, which can send "trust".
        emit({
            "event": "trust_needed",
            "devices": sorted(
                ({"jid": d.bare_jid, "device_id": d.device_id, "fingerprint": fingerprint(d.identity_key)} for d in manually_trusted),
                key=lambda d: (d["jid"], d["device_id"]),
            ),
        })

    async def get_session_manager(self):  # type: ignore[override]
        # As XEP_0384.get_session_manager/_prepare, but with our choice of
        # backends (python-omemo purges the online data of backends that are
        # no longer loaded).
        if self._sm is not None:
            return self._sm
        if self._sm_task is None:
            self._sm_task = asyncio.ensure_future(self._prepare())
        return await asyncio.shield(self._sm_task)

    async def _prepare(self):
        backends = []
        if TWO in self.namespaces:
            backends.append(twomemo.Twomemo(self._storage_impl, 1000, None))
        if OLD in self.namespaces:
            backends.append(oldmemo.Oldmemo(self._storage_impl, 1000, None))
        sm = await _make_session_manager(self.xmpp, self).create(
            backends,
            self._storage_impl,
            self.xmpp.boundjid.bare,
            initial_own_label=None,
            undecided_trust_level_name=TrustLevel.UNDECIDED.value,
        )
        await sm.ensure_data_consistency()
        await sm.after_history_sync()
        self._sm = sm
        self.xmpp.event("omemo_initialized")
        return sm

    async def _on_device_list_update(self, msg: Message) -> None:  # type: ignore[override]
        # PEP notifications for a namespace we do not load would raise
        # UnknownNamespace inside slixmpp's event loop: ignore them.
        item = next(iter(msg["pubsub_event"]["items"]), None)
        if msg["from"].bare == self.xmpp.boundjid.bare and getattr(self.xmpp, "raw_lists", False):
            # Our own hostile list (publish_raw): not for python-omemo to act on.
            log.info("ignoring our own raw device list")
            return
        if item is not None:
            if item.xml.find(f"{{{TWO}}}devices") is not None and TWO not in self.namespaces:
                return
            if item.xml.find(f"{{{OLD}}}list") is not None and OLD not in self.namespaces:
                return
        await super()._on_device_list_update(msg)


register_plugin(OmemoPlugin)


class SceError(ValueError):
    pass


def open_sce_strict(data: bytes, expected_from: str, expected_to: str) -> Tuple[str, Optional[str]]:
    """Parse an XEP-0420 envelope as OMEMO:2 uses it: <from> and <to> are
    required and must match the stanza; returns (body, time stamp)."""
    try:
        envelope = ET.fromstring(data)
    except ET.ParseError as e:
        raise SceError(f"SCE envelope is not XML: {e}") from e
    if envelope.tag != f"{{{SCE_NS}}}envelope":
        raise SceError(f"not an SCE envelope: root {envelope.tag}")
    from_elt = envelope.find(f"{{{SCE_NS}}}from")
    if from_elt is None:
        raise SceError("SCE envelope without <from>")
    if JID(from_elt.get("jid", "")).bare != expected_from:
        raise SceError(f"SCE <from> {from_elt.get('jid')!r} does not match the sender {expected_from}")
    to_elt = envelope.find(f"{{{SCE_NS}}}to")
    if to_elt is None:
        raise SceError("SCE envelope without <to>")
    if JID(to_elt.get("jid", "")).bare != expected_to:
        raise SceError(f"SCE <to> {to_elt.get('jid')!r} does not match the recipient {expected_to}")
    content = envelope.find(f"{{{SCE_NS}}}content")
    if content is None:
        raise SceError("SCE envelope without <content>")
    body = content.find(f"{{{CLIENT_NS}}}body")
    if body is None:
        raise SceError("SCE content without <body>")
    time_elt = envelope.find(f"{{{SCE_NS}}}time")
    return body.text or "", (time_elt.get("stamp") if time_elt is not None else None)


class MucError(Exception):
    """A refused MUC request; str() starts with the XMPP error condition."""

    def __init__(self, condition: Optional[str], text: Optional[str] = None) -> None:
        self.condition = condition or "undefined-condition"
        self.text = text
        super().__init__(f"{self.condition}: {text}" if text else self.condition)


def error_condition(stanza_xml: ET.Element) -> Tuple[Optional[str], Optional[str]]:
    """(condition, text) of a stanza's <error/>."""
    err = stanza_xml.find("{jabber:client}error")
    condition = None
    text = None
    if err is not None:
        for child in err:
            tag = child.tag.split("}")[-1]
            if tag == "text":
                text = child.text
            elif condition is None and child.tag.startswith(f"{{{STANZA_ERROR_NS}}}"):
                condition = tag
    return condition, text


class Room:
    """What the bot knows about one room: occupants from presence (with
    real JIDs: the rooms are non-anonymous) and affiliations from the lists
    and from notifications."""

    def __init__(self, jid: str, nick: str) -> None:
        self.jid = jid
        self.nick = nick
        # nick -> {"nick","jid","affiliation","role","occupant_id"} of present occupants
        self.occupants: Dict[str, Dict[str, Any]] = {}
        # nick -> real bare JID, kept after the occupant left (a message
        # may still be queued behind its unavailable presence).
        self.real_jids: Dict[str, str] = {}
        # bare JID -> owner/admin/member/outcast (none: absent)
        self.affiliations: Dict[str, str] = {}
        self.joined: asyncio.Future = asyncio.get_event_loop().create_future()
        self.self_codes: List[str] = []
        self.in_room = False
        # Set once the lists are seeded: from then on, changes are announced.
        self.active = False

    def occupant_list(self) -> List[Dict[str, Any]]:
        return [
            {"nick": o["nick"], "jid": o["jid"], "affiliation": o["affiliation"], "role": o["role"]}
            for o in sorted(self.occupants.values(), key=lambda o: o["nick"])
        ]


def reason_of(e: BaseException) -> str:
    """A short, stable reason (the words ARCHITECTURE.md uses) plus detail."""
    if isinstance(e, MessageNotForUs):
        short = "not encrypted for this device"
    elif isinstance(e, NoSession):
        short = "no session"
    elif isinstance(e, SenderDistrusted):
        short = "untrusted sender"
    elif isinstance(e, SenderNotFound):
        short = "unknown sender device"
    elif isinstance(e, PublicDataInconsistency):
        short = "identity key mismatch"
    elif isinstance(e, SceError):
        short = "bad SCE envelope"
    elif isinstance(e, StillUndecided):
        short = "undecided trust"
    elif isinstance(e, NoEligibleDevices):
        short = "no eligible devices"
    else:
        short = "decryption failed"
    detail = f"{type(e).__name__}: {e}"
    cause = e.__cause__
    if cause is not None:
        detail += f" ({type(cause).__name__}: {cause})"
    return f"{short}: {detail}"


class Bot(ClientXMPP):
    def __init__(self, args: argparse.Namespace) -> None:
        jid = JID(args.jid)
        if not jid.resource:
            jid = JID(f"{jid.bare}/{args.resource}")
        super().__init__(jid, args.password)
        self.args = args
        self.namespaces = [NS_BY_TAG[t] for t in args.namespaces]

        # Verify the server against exactly the given CA, never the system store.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=args.ca_file)
        self.ssl_context = ctx
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False

        self.queue: asyncio.Queue = asyncio.Queue()
        self.online: asyncio.Future = asyncio.get_event_loop().create_future()

        for plugin in ["xep_0030", "xep_0060", "xep_0163", "xep_0199", "xep_0280", "xep_0334", "xep_0359", "xep_0380"]:
            self.register_plugin(plugin)
        self.register_plugin(
            "xep_0384",
            {"json_file_path": args.storage, "namespaces": self.namespaces, "blind_trust": args.trust == "blind"},
            module=sys.modules[__name__],
        )

        self.add_event_handler("session_start", self.on_session_start)
        # slixmpp's "message" event only fires for stanzas with a <body>:
        # carbons and empty OMEMO messages have none. Take every message.
        self.register_handler(Callback("sotto peer: all messages", MatchXPath("{jabber:client}message"), self.on_message))
        self.add_event_handler("message_error", self.on_message_error)
        # Room presences are handled at once (not queued), so a message
        # queued behind a presence finds the occupant's real JID.
        self.rooms: Dict[str, Room] = {}
        self.register_handler(Callback("sotto peer: muc presence", MatchXPath("{jabber:client}presence"), self.on_presence))
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("ssl_invalid_chain", self.on_bad_tls)
        self.add_event_handler("connection_failed", self.on_connection_failed)
        self.add_event_handler("disconnected", self.on_disconnected)

    @property
    def omemo(self) -> OmemoPlugin:
        return self.plugin["xep_0384"]

    # --- connection -------------------------------------------------------

    def fail_startup(self, reason: str) -> None:
        if not self.online.done():
            self.online.set_exception(RuntimeError(reason))

    def on_failed_auth(self, _stanza: Any) -> None:
        self.fail_startup("authentication failed")

    def on_bad_tls(self, e: Any) -> None:
        self.fail_startup(f"server certificate not trusted: {e}")

    def on_connection_failed(self, e: Any) -> None:
        self.fail_startup(f"connection failed: {e}")

    def on_disconnected(self, reason: Any) -> None:
        if self.online.done():
            emit({"event": "disconnected", "reason": str(reason)})

    async def on_session_start(self, _event: Any) -> None:
        try:
            await self.get_roster()
            await self.plugin["xep_0280"].enable()
            self.send_presence()
            sm = await self.omemo.get_session_manager()
            own, _ = await sm.get_own_device_information()
            info = {
                "event": "online",
                "jid": self.boundjid.bare,
                "full_jid": str(self.boundjid),
                "device_id": own.device_id,
                "fingerprint": fingerprint(own.identity_key),
                "namespaces": [TAG_BY_NS[n] for n in self.namespaces],
            }
            if not self.online.done():
                self.online.set_result(info)
            else:  # a reconnect
                emit(info)
        except Exception as e:  # noqa: BLE001
            log.exception("startup failed")
            self.fail_startup(f"startup failed: {type(e).__name__}: {e}")

    # --- incoming ---------------------------------------------------------

    def on_message(self, msg: Message) -> None:
        # Serialized with the commands in one worker: python-omemo's state
        # must not be touched by two coroutines at once.
        self.queue.put_nowait(("stanza", msg))

    def on_message_error(self, msg: Message) -> None:
        err = msg.xml.find("{jabber:client}error")
        condition = None
        text = None
        if err is not None:
            for child in err:
                tag = child.tag.split("}")[-1]
                if tag == "text":
                    text = child.text
                elif condition is None:
                    condition = tag
        emit({"event": "message_error", "from": str(msg["from"]), "id": msg["id"] or None, "condition": condition, "text": text})

    async def handle_stanza(self, outer: Message) -> None:
        if outer["type"] == "error":
            return  # reported by on_message_error
        carbon: Optional[str] = None
        msg = outer
        for kind in ("sent", "received"):
            wrapper = outer.xml.find(f"{{{CARBONS_NS}}}{kind}")
            if wrapper is not None:
                if outer["from"].bare != self.boundjid.bare:
                    log.warning("ignoring a carbon from %s (not our account)", outer["from"])
                    return
                inner = wrapper.find(f"{{{FORWARD_NS}}}forwarded/{{jabber:client}}message")
                if inner is None:
                    emit({"event": "error", "reason": f"carbon {kind} without forwarded message"})
                    return
                carbon = kind
                msg = Message(stream=self, xml=inner)
                break
        if msg["type"] == "error":
            return
        if carbon is None and msg["from"].bare in self.rooms:
            await self.handle_room_message(self.rooms[msg["from"].bare], msg)
            return
        if carbon is None and msg["from"] == self.boundjid:
            # The server hands a message to our own bare JID (e.g.
            # python-omemo's session completion for another own device)
            # back to us as well; it is ours, not for us.
            log.info("ignoring our own message %s to %s", msg["id"], msg["to"])
            return
        encrypted = [n for n in (TWO, OLD) if msg.xml.find(f"{{{n}}}encrypted") is not None]
        body = msg.xml.find("{jabber:client}body")
        if not encrypted:
            if body is None:
                return  # chat states, receipts, PEP events, ...
            emit(self.message_event(msg, carbon, ns=None, encrypted=False, body=body.text or ""))
            return
        await self.decrypt(msg, carbon, encrypted)

    def message_event(self, msg: Message, carbon: Optional[str], **fields: Any) -> Dict[str, Any]:
        origin = msg.xml.find(f"{{{SID_NS}}}origin-id")
        event = {
            "event": "message",
            "from": msg["from"].bare,
            "to": msg["to"].bare or self.boundjid.bare,
            "ns": None,
            "device_id": None,
            "encrypted": False,
            "prekey": None,
            "body": None,
            "error": None,
            "carbon": carbon,
            "id": msg["id"] or None,
            "origin_id": origin.get("id") if origin is not None else None,
            "type": msg["type"],
            "for_devices": None,
            # The stanza as received, serialized (benchmarks compare sizes).
            "bytes": len(str(msg).encode()),
        }
        event.update(fields)
        return event

    async def decrypt(
        self,
        msg: Message,
        carbon: Optional[str],
        namespaces: List[str],
        sender: Optional[str] = None,
        recipient: Optional[str] = None,
        extra: Optional[Dict[str, Any]] = None,
        sink: Any = None,
    ) -> None:
        """Decrypt and emit. For a groupchat message `sender` is the real
        bare JID, `recipient` the room (the SCE <to>), `extra` the room
        fields of the event."""
        sender = sender or msg["from"].bare
        recipient = recipient or msg["to"].bare or self.boundjid.bare
        extra = extra or {}
        sink = sink or emit
        sm = await self.omemo.get_session_manager()
        last: Optional[Dict[str, Any]] = None
        # Prefer :2 when both are present (as slixmpp-omemo does), but fall
        # back to 0.3 if the :2 element holds nothing for this device.
        for ns in namespaces:
            tag = TAG_BY_NS[ns]
            elt = msg.xml.find(f"{{{ns}}}encrypted")
            base = dict(ns=tag, encrypted=True)
            if ns not in self.namespaces:
                last = self.message_event(msg, carbon, **extra, **base, error=f"namespace {ns} not enabled on this peer")
                continue
            try:
                if ns == TWO:
                    message = twomemo.etree.parse_message(elt, sender)
                else:
                    message = await oldmemo.etree.parse_message(elt, sender, self.boundjid.bare, sm)
            except Exception as e:  # noqa: BLE001
                last = self.message_event(msg, carbon, **extra, **base, error=f"malformed: {reason_of(e)}")
                continue
            own_id = (await sm.get_own_device_information())[0].device_id
            mine = [(k, kex) for k, kex in message.keys if k.bare_jid == self.boundjid.bare and k.device_id == own_id]
            base.update(
                device_id=message.device_id,
                prekey=(mine[0][1] is not None) if mine else None,
                for_devices=sorted(k.device_id for k, _ in message.keys if k.bare_jid == self.boundjid.bare),
            )
            if extra:
                base["header_devices"] = sorted({k.device_id for k, _ in message.keys})
            try:
                plaintext, device, _ = await sm.decrypt(message)
            except Exception as e:  # noqa: BLE001
                last = self.message_event(msg, carbon, **extra, **base, error=reason_of(e))
                if isinstance(e, MessageNotForUs):
                    continue
                break
            if plaintext is None:
                sink({
                    "event": "empty", "from": sender, "ns": tag, "device_id": device.device_id,
                    "prekey": base["prekey"], "carbon": carbon, "id": msg["id"] or None,
                    **{k: v for k, v in extra.items() if k in ("room", "nick", "type")},
                })
                return
            if ns == TWO:
                try:
                    text, stamp = open_sce_strict(plaintext, sender, recipient)
                except SceError as e:
                    sink(self.message_event(msg, carbon, **extra, **base, error=reason_of(e)))
                    return
                sink(self.message_event(msg, carbon, **extra, **base, body=text, sce_time=stamp))
            else:
                sink(self.message_event(msg, carbon, **extra, **base, body=plaintext.decode("utf-8", errors="replace")))
            return
        if last is not None:
            sink(last)

    # --- commands ---------------------------------------------------------

    async def handle_command(self, line: str) -> bool:
        """Returns False when the bot should quit."""
        req = None
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ValueError("a command is a JSON object")
            req = cmd.get("req")
            name = cmd.get("cmd")
            if name == "quit":
                self.reply(req, {"event": "bye"})
                return False
            handler = {
                "send": self.cmd_send,
                "send_plain": self.cmd_send_plain,
                "devices": self.cmd_devices,
                "trust": self.cmd_trust,
                "distrust": self.cmd_distrust,
                "send_raw": self.cmd_send_raw,
                "encrypt": self.cmd_encrypt,
                "publish_raw": self.cmd_publish_raw,
                "fetch_raw": self.cmd_fetch_raw,
                "send_many": self.cmd_send_many,
                "catch_up": self.cmd_catch_up,
                "muc_create": self.cmd_muc_create,
                "muc_join": self.cmd_muc_join,
                "muc_leave": self.cmd_muc_leave,
                "muc_send": self.cmd_muc_send,
                "muc_send_plain": self.cmd_muc_send_plain,
                "muc_members": self.cmd_muc_members,
                "muc_affiliation": self.cmd_muc_affiliation,
                "muc_history": self.cmd_muc_history,
                "muc_bench_send": self.cmd_muc_bench_send,
            }.get(name)
            if handler is None:
                raise ValueError(f"unknown command {name!r}")
            self.reply(req, await handler(cmd))
        except MucError as e:
            log.warning("command refused: %s: %s", line.strip(), e)
            self.reply(req, {"event": "error", "reason": str(e), "condition": e.condition})
        except Exception as e:  # noqa: BLE001
            log.exception("command failed: %s", line.strip())
            self.reply(req, {"event": "error", "reason": reason_of(e) if not isinstance(e, (ValueError, KeyError, TypeError, json.JSONDecodeError)) else f"{type(e).__name__}: {e}"})
        return True

    @staticmethod
    def reply(req: Any, obj: Dict[str, Any]) -> None:
        if req is not None:
            obj["req"] = req
        emit(obj)

    def new_message(self, to: JID) -> Message:
        msg = self.make_message(mto=to, mtype="chat")
        if not msg["id"]:
            msg["id"] = self.new_id()
        return msg

    @staticmethod
    def add_origin_id(msg: Message) -> None:
        ET.SubElement(msg.xml, f"{{{SID_NS}}}origin-id", id=msg["id"])

    async def cmd_send_plain(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        to = JID(cmd["to"])
        msg = self.new_message(to)
        msg["body"] = str(cmd["body"])
        self.add_origin_id(msg)
        msg.send()
        return {"event": "sent", "id": msg["id"], "ns": None}

    def namespace_of(self, cmd: Dict[str, Any]) -> str:
        tag = cmd.get("ns", "two")
        if tag not in NS_BY_TAG:
            raise ValueError(f"ns must be 'old' or 'two', not {tag!r}")
        ns = NS_BY_TAG[tag]
        if ns not in self.namespaces:
            raise ValueError(f"namespace {tag} is not enabled on this peer (--namespaces)")
        return ns

    async def refresh_lists(self, ns: str, to: JID) -> None:
        # Do not rely on PEP notifications having arrived: fetch the
        # recipient's and our own device lists now (cheap on loopback).
        sm = await self.omemo.get_session_manager()
        own = set() if getattr(self, "raw_lists", False) else {self.boundjid.bare}
        for bare in {to.bare} | own:
            try:
                await sm.refresh_device_list(ns, bare)
            except Exception as e:  # noqa: BLE001
                log.warning("device list refresh for %s failed: %s", bare, e)

    async def encrypt_stanza(self, to: JID, body: str, ns: str) -> Tuple[Message, List[Any], List[Any]]:
        """One encrypted type=chat message, ready to send, with the devices
        that got the key and those that did not."""
        sm = await self.omemo.get_session_manager()
        plaintext = body.encode("utf-8") if ns == OLD else build_sce(body, self.boundjid.bare, to.bare)
        messages, errors = await sm.encrypt(frozenset([to.bare]), {ns: plaintext}, backend_priority_order=[ns])
        msg = self.new_message(to)
        msg["body"] = self.omemo.fallback_message
        recipients = []
        for message in messages:
            serialize = twomemo.etree.serialize_message if message.namespace == TWO else oldmemo.etree.serialize_message
            msg.xml.append(serialize(message))
            recipients.extend(
                {"jid": k.bare_jid, "device_id": k.device_id, "prekey": kex is not None} for k, kex in message.keys
            )
        ET.SubElement(msg.xml, f"{{{EME_NS}}}encryption", namespace=ns, name="OMEMO" if ns == TWO else "OMEMO (0.3)")
        ET.SubElement(msg.xml, f"{{{HINTS_NS}}}store")
        self.add_origin_id(msg)
        return msg, recipients, list(errors)

    async def cmd_send(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        to = JID(cmd["to"])
        ns = self.namespace_of(cmd)
        await self.refresh_lists(ns, to)
        msg, recipients, errors = await self.encrypt_stanza(to, str(cmd["body"]), ns)
        msg.send()
        return {
            "event": "sent",
            "id": msg["id"],
            "ns": TAG_BY_NS[ns],
            "recipients": sorted(recipients, key=lambda r: (r["jid"], r["device_id"])),
            "skipped": sorted(
                ({"jid": e.bare_jid, "device_id": e.device_id, "reason": reason_of(e.exception)} for e in errors),
                key=lambda r: (r["jid"], r["device_id"]),
            ),
        }

    # --- hostile input ----------------------------------------------------

    async def cmd_send_raw(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        xml = str(cmd["xml"])
        try:
            ET.fromstring(xml)
        except ET.ParseError as e:
            # Not well-formed XML would end our own stream, not test Sotto.
            raise ValueError(f"send_raw needs well-formed XML: {e}") from e
        # Through the send queue, in order with what send/send_plain queued.
        self.send(xml)
        return {"event": "sent_raw"}

    async def cmd_encrypt(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        to = JID(cmd["to"])
        ns = self.namespace_of(cmd)
        await self.refresh_lists(ns, to)
        msg, _, _ = await self.encrypt_stanza(to, str(cmd["body"]), ns)
        elt = msg.xml.find(f"{{{ns}}}encrypted")
        if elt is None:
            raise ValueError("nothing was encrypted (no device of the recipient?)")
        sm = await self.omemo.get_session_manager()
        own, _ = await sm.get_own_device_information()
        return {"event": "encrypted", "xml": ET.tostring(elt, encoding="unicode"), "device_id": own.device_id}

    async def cmd_publish_raw(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        from slixmpp_omemo.xep_0384 import _publish_item_and_configure_node

        payload = ET.fromstring(str(cmd["xml"]))
        if payload.tag in (f"{{{TWO}}}devices", f"{{{OLD}}}list"):
            self.raw_lists = True
        options = cmd.get("options") or {"pubsub#access_model": "open"}
        await _publish_item_and_configure_node(
            self.plugin["xep_0060"], self.boundjid.bare, str(cmd["node"]), payload, str(cmd["item_id"]), options
        )
        return {"event": "published", "node": cmd["node"], "item_id": cmd["item_id"]}

    async def cmd_fetch_raw(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        jid = JID(cmd.get("jid") or self.boundjid.bare)
        node = str(cmd["node"])
        if cmd.get("item_id") is not None:
            iq = await self.plugin["xep_0060"].get_item(jid, node, str(cmd["item_id"]), timeout=20)
        else:
            iq = await self.plugin["xep_0060"].get_items(jid, node, timeout=20)
        items = []
        for item in iq.xml.iter("{http://jabber.org/protocol/pubsub}item"):
            payload = next(iter(item), None)
            items.append({"id": item.get("id"), "xml": ET.tostring(payload, encoding="unicode") if payload is not None else None})
        return {"event": "items", "items": items}

    # --- benchmarks ------------------------------------------------------

    async def barrier(self) -> None:
        """The server handles our stanzas in order: once it answered this
        ping, it has processed (stored, routed) everything sent before."""
        iq = self.make_iq_get(ito=self.boundjid.domain)
        ET.SubElement(iq.xml, "{urn:xmpp:ping}ping")
        await iq.send(timeout=600)

    async def cmd_send_many(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        import time

        to = JID(cmd["to"])
        ns = self.namespace_of(cmd)
        count = int(cmd["count"])
        prefix = str(cmd.get("body_prefix", "message "))
        await self.refresh_lists(ns, to)
        started = time.perf_counter()
        with self.omemo._storage_impl.defer():
            for i in range(count):
                msg, recipients, _ = await self.encrypt_stanza(to, f"{prefix}{i}", ns)
                if not recipients:
                    raise ValueError(f"message {i}: no device got the key")
                msg.send()
                if i % 50 == 49:
                    await asyncio.sleep(0)  # let the stream write
        encrypted = time.perf_counter() - started
        await self.barrier()
        elapsed = time.perf_counter() - started
        return {
            "event": "sent_many",
            "count": count,
            "encrypt_s": encrypted,
            "elapsed_s": elapsed,
            "per_second": count / elapsed if elapsed > 0 else None,
        }

    async def decrypt_archived(self, inner: ET.Element) -> Tuple[str, Optional[str]]:
        """("text"|"empty"|"plain"|"error", error) for one archived message."""
        msg = Message(stream=self, xml=inner)
        sender = msg["from"].bare
        recipient = msg["to"].bare or self.boundjid.bare
        ns = next((n for n in (TWO, OLD) if n in self.namespaces and inner.find(f"{{{n}}}encrypted") is not None), None)
        if ns is None:
            return "plain", None
        sm = await self.omemo.get_session_manager()
        elt = inner.find(f"{{{ns}}}encrypted")
        try:
            if ns == TWO:
                message = twomemo.etree.parse_message(elt, sender)
            else:
                message = await oldmemo.etree.parse_message(elt, sender, self.boundjid.bare, sm)
            plaintext, _, _ = await sm.decrypt(message)
            if plaintext is None:
                return "empty", None
            if ns == TWO:
                open_sce_strict(plaintext, sender, recipient)
            else:
                plaintext.decode("utf-8")
            return "text", None
        except Exception as e:  # noqa: BLE001
            return "error", reason_of(e)

    async def cmd_catch_up(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        import time

        decrypt = bool(cmd.get("decrypt", True))
        page_size = int(cmd.get("page_size", 250))
        mam = "urn:xmpp:mam:2"
        rsm = "http://jabber.org/protocol/rsm"
        query_id = f"catch-up-{self.new_id()}"
        page: List[ET.Element] = []

        def collect(stanza: Message) -> None:
            result = stanza.xml.find(f"{{{mam}}}result")
            if result is not None and result.get("queryid") == query_id:
                inner = result.find(f"{{{FORWARD_NS}}}forwarded/{{jabber:client}}message")
                if inner is not None:
                    page.append(inner)

        handler = f"catch-up {query_id}"
        self.register_handler(Callback(handler, MatchXPath(f"{{jabber:client}}message/{{{mam}}}result"), collect))
        sm = await self.omemo.get_session_manager()
        counts = {"text": 0, "empty": 0, "plain": 0, "error": 0}
        first_errors: List[str] = []
        pages = 0
        fetch_s = 0.0
        after: Optional[str] = None
        started = time.perf_counter()
        try:
            if decrypt:
                sm.before_history_sync()
            with self.omemo._storage_impl.defer():
                while True:
                    iq = self.make_iq_set()
                    query = ET.SubElement(iq.xml, f"{{{mam}}}query", queryid=query_id)
                    rsm_set = ET.SubElement(query, f"{{{rsm}}}set")
                    ET.SubElement(rsm_set, f"{{{rsm}}}max").text = str(page_size)
                    if after is not None:
                        ET.SubElement(rsm_set, f"{{{rsm}}}after").text = after
                    t0 = time.perf_counter()
                    answer = await iq.send(timeout=600)
                    fetch_s += time.perf_counter() - t0
                    pages += 1
                    batch, page[:] = list(page), []
                    for inner in batch:
                        if not decrypt:
                            counts["plain"] += 1
                            continue
                        kind, error = await self.decrypt_archived(inner)
                        counts[kind] += 1
                        if error is not None and len(first_errors) < 5:
                            first_errors.append(error)
                    fin = answer.xml.find(f"{{{mam}}}fin")
                    last = fin.find(f"{{{rsm}}}set/{{{rsm}}}last") if fin is not None else None
                    if fin is None or fin.get("complete") in ("true", "1") or last is None or not batch:
                        break
                    after = last.text
            elapsed = time.perf_counter() - started
        finally:
            self.remove_handler(handler)
            if decrypt:
                await sm.after_history_sync()
        total = sum(counts.values())
        return {
            "event": "caught_up",
            "messages": total,
            "decrypted": counts["text"],
            "empty": counts["empty"],
            "plain": counts["plain"],
            "errors": counts["error"],
            "first_errors": first_errors,
            "pages": pages,
            "elapsed_s": elapsed,
            "fetch_s": fetch_s,
            "per_second": total / elapsed if elapsed > 0 else None,
        }

    async def device_info(self, jid: str, refresh: bool) -> List[DeviceInformation]:
        sm = await self.omemo.get_session_manager()
        if refresh:
            for ns in self.namespaces:
                try:
                    await sm.refresh_device_list(ns, jid)
                except Exception as e:  # noqa: BLE001
                    log.warning("device list refresh for %s failed: %s", jid, e)
        return sorted(await sm.get_device_information(jid), key=lambda d: d.device_id)

    async def cmd_devices(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        jid = JID(cmd["jid"]).bare
        devices = await self.device_info(jid, refresh=True)
        out: Dict[str, Any] = {"event": "devices", "jid": jid, "old": [], "two": []}
        for d in devices:
            active = dict(d.active)
            for ns in d.namespaces:
                out[TAG_BY_NS[ns]].append({
                    "id": d.device_id,
                    "fingerprint": fingerprint(d.identity_key),
                    "trust": d.trust_level_name,
                    "active": bool(active.get(ns, False)),
                    "label": d.label,
                })
        return out

    async def set_trust(self, cmd: Dict[str, Any], level: TrustLevel) -> Dict[str, Any]:
        jid = JID(cmd["jid"]).bare
        device_id = int(cmd["device_id"])
        devices = await self.device_info(jid, refresh=False)
        device = next((d for d in devices if d.device_id == device_id), None)
        if device is None:
            devices = await self.device_info(jid, refresh=True)
            device = next((d for d in devices if d.device_id == device_id), None)
        if device is None:
            raise ValueError(f"unknown device {device_id} of {jid}")
        sm = await self.omemo.get_session_manager()
        await sm.set_trust(jid, device.identity_key, level.value)
        return {
            "event": "trusted" if level is TrustLevel.TRUSTED else "distrusted",
            "jid": jid,
            "device_id": device_id,
            "fingerprint": fingerprint(device.identity_key),
        }

    async def cmd_trust(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        return await self.set_trust(cmd, TrustLevel.TRUSTED)

    async def cmd_distrust(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        return await self.set_trust(cmd, TrustLevel.DISTRUSTED)

    # --- group chats (XEP-0045) ---------------------------------------------

    def on_presence(self, pres: Any) -> None:
        room = self.rooms.get(pres["from"].bare)
        if room is None:
            return
        nick = pres["from"].resource
        if pres["type"] == "error":
            condition, text = error_condition(pres.xml)
            if not room.joined.done():
                room.joined.set_exception(MucError(condition, text))
            else:
                emit({"event": "muc_error", "room": room.jid, "nick": nick, "condition": condition, "text": text})
            return
        x = pres.xml.find(f"{{{MUC_USER_NS}}}x")
        if x is None or not nick:
            return
        item = x.find(f"{{{MUC_USER_NS}}}item")
        codes = sorted(s.get("code", "") for s in x.findall(f"{{{MUC_USER_NS}}}status"))
        affiliation = item.get("affiliation", "none") if item is not None else "none"
        role = item.get("role", "none") if item is not None else "none"
        real = JID(item.get("jid")).bare if item is not None and item.get("jid") else None
        occupant_id = pres.xml.find(f"{{{OCCUPANT_ID_NS}}}occupant-id")
        available = pres["type"] != "unavailable"
        is_self = "110" in codes or (nick == room.nick and real == self.boundjid.bare)
        if real is not None:
            room.real_jids[nick] = real
        if available:
            room.occupants[nick] = {
                "nick": nick, "jid": real, "affiliation": affiliation, "role": role,
                "occupant_id": occupant_id.get("id") if occupant_id is not None else None,
            }
        else:
            room.occupants.pop(nick, None)
        if room.active:
            emit({
                "event": "muc_occupant", "room": room.jid, "nick": nick, "jid": real,
                "affiliation": affiliation, "role": role, "available": available, "codes": codes,
            })
        if real is not None:
            self.note_affiliation(room, real, affiliation, nick=nick, codes=codes)
        if is_self:
            room.self_codes = codes
            if available:
                room.in_room = True
                if not room.joined.done():
                    room.joined.set_result(codes)
            else:
                room.in_room = False
                if not room.joined.done():
                    room.joined.set_exception(MucError("not-allowed", f"left at once (status {codes})"))
                elif room.active:
                    emit({"event": "muc_left", "room": room.jid, "codes": codes})

    def note_affiliation(self, room: Room, jid: str, affiliation: str, nick: Optional[str] = None, codes: Optional[List[str]] = None) -> None:
        """Track an affiliation the room told us about; announce a change."""
        old = room.affiliations.get(jid, "none")
        if affiliation in ("owner", "admin", "member", "outcast"):
            room.affiliations[jid] = affiliation
        else:
            room.affiliations.pop(jid, None)
        if room.active and old != affiliation:
            emit({"event": "muc_affiliation", "room": room.jid, "jid": jid, "affiliation": affiliation, "nick": nick, "codes": codes or []})

    async def handle_room_message(self, room: Room, msg: Message) -> None:
        nick = msg["from"].resource
        x = msg.xml.find(f"{{{MUC_USER_NS}}}x")
        if not nick:
            # From the room itself: affiliation changes of members not in
            # the room (XEP-0045 example 195), configuration changes, ...
            if x is None:
                return
            codes = sorted(s.get("code", "") for s in x.findall(f"{{{MUC_USER_NS}}}status"))
            for item in x.findall(f"{{{MUC_USER_NS}}}item"):
                if item.get("jid"):
                    self.note_affiliation(room, JID(item.get("jid")).bare, item.get("affiliation", "none"), codes=codes)
            if codes:
                emit({"event": "muc_status", "room": room.jid, "codes": codes})
            return
        if msg["type"] != "groupchat":
            log.info("ignoring a private message from %s", msg["from"])
            return
        origin = msg.xml.find(f"{{{SID_NS}}}origin-id")
        stanza_id = next((e.get("id") for e in msg.xml.findall(f"{{{SID_NS}}}stanza-id") if e.get("by") == room.jid), None)
        if nick == room.nick:
            emit({
                "event": "reflection", "room": room.jid, "nick": nick, "id": msg["id"] or None,
                "origin_id": origin.get("id") if origin is not None else None, "stanza_id": stanza_id,
            })
            return
        occupant_id = msg.xml.find(f"{{{OCCUPANT_ID_NS}}}occupant-id")
        real = room.real_jids.get(nick)
        await self.room_message(msg, room, nick, real, stanza_id, occupant_id.get("id") if occupant_id is not None else None)

    async def room_message(
        self, msg: Message, room: Room, nick: str, real: Optional[str], stanza_id: Optional[str],
        occupant_id: Optional[str], archived: bool = False, sink: Any = None,
    ) -> None:
        sink = sink or emit
        extra: Dict[str, Any] = {
            "from": real, "to": room.jid, "room": room.jid, "nick": nick,
            "stanza_id": stanza_id, "occupant_id": occupant_id,
        }
        if archived:
            extra["archived"] = True
        encrypted = [n for n in (TWO, OLD) if msg.xml.find(f"{{{n}}}encrypted") is not None]
        body = msg.xml.find("{jabber:client}body")
        if not encrypted:
            if body is None:
                return  # subject, chat states, ...
            sink(self.message_event(msg, None, **extra, ns=None, encrypted=False, body=body.text or ""))
            return
        if real is None:
            ns = encrypted[0]
            sink(self.message_event(
                msg, None, **extra, ns=TAG_BY_NS[ns], encrypted=True,
                error=f"unknown sender: no real JID known for {room.jid}/{nick}",
            ))
            return
        await self.decrypt(msg, None, encrypted, sender=real, recipient=room.jid, extra=extra, sink=sink)

    def room_of(self, cmd: Dict[str, Any], joined: bool = True) -> Room:
        jid = JID(cmd["room"]).bare
        room = self.rooms.get(jid)
        if room is None or (joined and not room.in_room):
            raise ValueError(f"not in room {jid}")
        return room

    async def muc_enter(self, room_jid: str, nick: str) -> Room:
        room = Room(room_jid, nick)
        self.rooms[room_jid] = room
        pres = self.make_presence(pto=f"{room_jid}/{nick}")
        x = ET.SubElement(pres.xml, f"{{{MUC_NS}}}x")
        ET.SubElement(x, f"{{{MUC_NS}}}history", maxstanzas="0")
        pres.send()
        try:
            await asyncio.wait_for(asyncio.shield(room.joined), 20)
        except MucError:
            self.rooms.pop(room_jid, None)
            raise
        except asyncio.TimeoutError as e:
            self.rooms.pop(room_jid, None)
            raise MucError("remote-server-timeout", f"no presence from {room_jid} within 20 s") from e
        return room

    async def affiliation_list(self, room_jid: str, affiliation: str) -> List[str]:
        from slixmpp.exceptions import IqError, IqTimeout

        iq = self.make_iq_get(ito=room_jid)
        query = ET.SubElement(iq.xml, f"{{{MUC_ADMIN_NS}}}query")
        ET.SubElement(query, f"{{{MUC_ADMIN_NS}}}item", affiliation=affiliation)
        try:
            answer = await iq.send(timeout=20)
        except IqError as e:
            raise MucError(*error_condition(e.iq.xml)) from e
        except IqTimeout as e:
            raise MucError("remote-server-timeout", f"{affiliation} list") from e
        return sorted({
            JID(i.get("jid")).bare
            for i in answer.xml.iter(f"{{{MUC_ADMIN_NS}}}item")
            if i.get("jid") and i.get("affiliation", affiliation) == affiliation
        })

    async def affiliation_lists(self, room: Room) -> Tuple[Dict[str, List[str]], List[str]]:
        """The owner, admin and member lists, each queried on its own; the
        room's tracking is updated from them. Returns (lists, refused)."""
        lists: Dict[str, List[str]] = {}
        refused: List[str] = []
        for affiliation in PARTICIPANT_AFFILIATIONS:
            try:
                lists[affiliation] = await self.affiliation_list(room.jid, affiliation)
            except MucError as e:
                log.info("%s list of %s refused: %s", affiliation, room.jid, e)
                refused.append(affiliation)
        for affiliation, jids in lists.items():
            listed = set(jids)
            for jid in jids:
                self.note_affiliation(room, jid, affiliation)
            for jid, known in list(room.affiliations.items()):
                if known == affiliation and jid not in listed:
                    self.note_affiliation(room, jid, "none")
        return lists, refused

    async def participants(self, room: Room) -> Tuple[Set[str], List[str]]:
        _, refused = await self.affiliation_lists(room)
        jids = {j for j, a in room.affiliations.items() if a in PARTICIPANT_AFFILIATIONS}
        jids |= {o["jid"] for o in room.occupants.values() if o["jid"] and o["role"] != "none"}
        jids.discard(self.boundjid.bare)
        return jids, refused

    async def cmd_muc_join(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        room = await self.muc_enter(JID(cmd["room"]).bare, str(cmd["nick"]))
        await self.affiliation_lists(room)
        room.active = True
        return {
            "event": "muc_joined", "room": room.jid, "nick": room.nick, "created": "201" in room.self_codes,
            "occupants": room.occupant_list(), "codes": room.self_codes,
        }

    async def set_affiliation(self, room: Room, jid: str, affiliation: str) -> None:
        from slixmpp.exceptions import IqError

        iq = self.make_iq_set(ito=room.jid)
        query = ET.SubElement(iq.xml, f"{{{MUC_ADMIN_NS}}}query")
        ET.SubElement(query, f"{{{MUC_ADMIN_NS}}}item", affiliation=affiliation, jid=jid)
        try:
            await iq.send(timeout=20)
        except IqError as e:
            raise MucError(*error_condition(e.iq.xml)) from e

    async def cmd_muc_create(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        from slixmpp.exceptions import IqError

        room = await self.muc_enter(JID(cmd["room"]).bare, str(cmd["nick"]))
        created = "201" in room.self_codes
        iq = self.make_iq_set(ito=room.jid)
        query = ET.SubElement(iq.xml, f"{{{MUC_OWNER_NS}}}query")
        form = ET.SubElement(query, f"{{{DATA_NS}}}x", type="submit")
        values = {
            "FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig",
            "muc#roomconfig_persistentroom": "1",
            "muc#roomconfig_membersonly": "1",
            "muc#roomconfig_whois": "anyone",
            "muc#roomconfig_enablearchiving": "1",  # Prosody 0.12 mod_muc_mam
            "muc#roomconfig_enablelogging": "1",  # XEP-0045's name, for other servers
            "muc#roomconfig_publicroom": "0",
        }
        # A test may ask for another kind of room (e.g. open, non-anonymous).
        values.update({str(k): str(v) for k, v in (cmd.get("config") or {}).items()})
        for var, value in values.items():
            field = ET.SubElement(form, f"{{{DATA_NS}}}field", var=var)
            ET.SubElement(field, f"{{{DATA_NS}}}value").text = value
        try:
            await iq.send(timeout=20)
        except IqError as e:
            raise MucError(*error_condition(e.iq.xml)) from e
        room.active = True
        for member in cmd.get("members") or []:
            await self.set_affiliation(room, JID(member).bare, "member")
        await self.affiliation_lists(room)
        return {
            "event": "muc_joined", "room": room.jid, "nick": room.nick, "created": created,
            "occupants": room.occupant_list(), "codes": room.self_codes,
        }

    async def cmd_muc_leave(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        room = self.room_of(cmd, joined=False)
        room.active = False
        self.send_presence(pto=f"{room.jid}/{room.nick}", ptype="unavailable")
        self.rooms.pop(room.jid, None)
        return {"event": "muc_left", "room": room.jid}

    async def cmd_muc_members(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        room = self.room_of(cmd)
        lists, refused = await self.affiliation_lists(room)
        return {"event": "muc_members", "room": room.jid, "lists": lists, "occupants": room.occupant_list(), "refused": refused}

    async def cmd_muc_affiliation(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        room = self.room_of(cmd)
        jid = JID(cmd["jid"]).bare
        affiliation = str(cmd["affiliation"])
        await self.set_affiliation(room, jid, affiliation)
        self.note_affiliation(room, jid, affiliation)
        return {"event": "muc_affiliation_set", "room": room.jid, "jid": jid, "affiliation": affiliation}

    def new_room_message(self, room: Room) -> Message:
        msg = self.make_message(mto=room.jid, mtype="groupchat")
        if not msg["id"]:
            msg["id"] = self.new_id()
        return msg

    async def cmd_muc_send_plain(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        room = self.room_of(cmd)
        msg = self.new_room_message(room)
        msg["body"] = str(cmd["body"])
        self.add_origin_id(msg)
        msg.send()
        return {"event": "sent", "id": msg["id"], "ns": None}

    async def refresh_many(self, ns: str, jids: Set[str]) -> None:
        sm = await self.omemo.get_session_manager()
        for bare in sorted(jids | {self.boundjid.bare}):
            try:
                await sm.refresh_device_list(ns, bare)
            except Exception as e:  # noqa: BLE001
                log.warning("device list refresh for %s failed: %s", bare, e)

    async def encrypt_room_stanza(self, room: Room, jids: Set[str], body: str, ns: str) -> Tuple[Message, List[Any], List[Any]]:
        sm = await self.omemo.get_session_manager()
        # SCE for a room: <to> is the room, <from> our real bare JID.
        plaintext = body.encode("utf-8") if ns == OLD else build_sce(body, self.boundjid.bare, room.jid)
        messages, errors = await sm.encrypt(frozenset(jids), {ns: plaintext}, backend_priority_order=[ns])
        msg = self.new_room_message(room)
        msg["body"] = self.omemo.fallback_message
        recipients = []
        for message in messages:
            serialize = twomemo.etree.serialize_message if message.namespace == TWO else oldmemo.etree.serialize_message
            msg.xml.append(serialize(message))
            recipients.extend(
                {"jid": k.bare_jid, "device_id": k.device_id, "prekey": kex is not None} for k, kex in message.keys
            )
        ET.SubElement(msg.xml, f"{{{EME_NS}}}encryption", namespace=ns, name="OMEMO" if ns == TWO else "OMEMO (0.3)")
        ET.SubElement(msg.xml, f"{{{HINTS_NS}}}store")
        self.add_origin_id(msg)
        return msg, recipients, list(errors)

    async def cmd_muc_send(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        room = self.room_of(cmd)
        ns = self.namespace_of(cmd)
        jids, refused = await self.participants(room)
        await self.refresh_many(ns, jids)
        msg, recipients, errors = await self.encrypt_room_stanza(room, jids, str(cmd["body"]), ns)
        msg.send()
        return {
            "event": "sent",
            "id": msg["id"],
            "ns": TAG_BY_NS[ns],
            "recipients": sorted(recipients, key=lambda r: (r["jid"], r["device_id"])),
            "skipped": sorted(
                ({"jid": e.bare_jid, "device_id": e.device_id, "reason": reason_of(e.exception)} for e in errors),
                key=lambda r: (r["jid"], r["device_id"]),
            ),
            "participants": sorted(jids),
            "refused": refused,
        }

    async def cmd_muc_bench_send(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        import time

        room = self.room_of(cmd)
        ns = self.namespace_of(cmd)
        count = max(1, int(cmd.get("count", 1)))
        warmup = int(cmd.get("warmup", 0))
        jids, _ = await self.participants(room)
        await self.refresh_many(ns, jids)
        samples: List[float] = []
        sizes: List[int] = []
        recipients: List[Any] = []
        # State kept in memory and written once at the end, as send_many
        # does: the test peer's JSON file is not python-omemo's cost.
        with self.omemo._storage_impl.defer():
            for i in range(warmup):
                await self.encrypt_room_stanza(room, jids, f"warm-up {i}", ns)
            for i in range(count):
                started = time.perf_counter()
                msg, recipients, _ = await self.encrypt_room_stanza(room, jids, f"benchmark message {i}", ns)
                msg.send()
                samples.append(time.perf_counter() - started)
                sizes.append(len(str(msg).encode("utf-8")))
        await self.barrier()
        return {
            "event": "muc_bench",
            "encrypt_s": sum(samples) / len(samples),
            "bytes": sum(sizes) // len(sizes),
            "recipients": len(recipients),
            "participants": len(jids),
            "samples": samples,
            "sizes": sizes,
        }

    async def cmd_muc_history(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        """Page through the room's archive; every message is decrypted with
        the real JID the archive carries and returned (not emitted)."""
        room = self.room_of(cmd)
        page_size = int(cmd.get("page_size", 100))
        query_id = f"muc-history-{self.new_id()}"
        page: List[Tuple[ET.Element, Optional[str]]] = []

        def collect(stanza: Message) -> None:
            result = stanza.xml.find(f"{{{MAM_NS}}}result")
            if result is not None and result.get("queryid") == query_id and stanza["from"].bare == room.jid:
                inner = result.find(f"{{{FORWARD_NS}}}forwarded/{{jabber:client}}message")
                if inner is not None:
                    page.append((inner, result.get("id")))

        handler = f"muc history {query_id}"
        self.register_handler(Callback(handler, MatchXPath(f"{{jabber:client}}message/{{{MAM_NS}}}result"), collect))
        out: List[Dict[str, Any]] = []
        after: Optional[str] = None
        try:
            while True:
                iq = self.make_iq_set(ito=room.jid)
                query = ET.SubElement(iq.xml, f"{{{MAM_NS}}}query", queryid=query_id)
                rsm_set = ET.SubElement(query, f"{{{RSM_NS}}}set")
                ET.SubElement(rsm_set, f"{{{RSM_NS}}}max").text = str(page_size)
                if after is not None:
                    ET.SubElement(rsm_set, f"{{{RSM_NS}}}after").text = after
                from slixmpp.exceptions import IqError

                try:
                    answer = await iq.send(timeout=60)
                except IqError as e:
                    raise MucError(*error_condition(e.iq.xml)) from e
                batch, page[:] = list(page), []
                for inner, archive_id in batch:
                    msg = Message(stream=self, xml=inner)
                    nick = msg["from"].resource
                    item = inner.find(f"{{{MUC_USER_NS}}}x/{{{MUC_USER_NS}}}item")
                    real = JID(item.get("jid")).bare if item is not None and item.get("jid") else None
                    occupant_id = inner.find(f"{{{OCCUPANT_ID_NS}}}occupant-id")
                    if real == self.boundjid.bare:
                        out.append({
                            "event": "message", "type": msg["type"], "room": room.jid, "nick": nick, "from": real,
                            "own": True, "archived": True, "stanza_id": archive_id, "id": msg["id"] or None,
                            "encrypted": any(inner.find(f"{{{n}}}encrypted") is not None for n in (OLD, TWO)),
                        })
                        continue
                    await self.room_message(
                        msg, room, nick, real, archive_id,
                        occupant_id.get("id") if occupant_id is not None else None, archived=True, sink=out.append,
                    )
                fin = answer.xml.find(f"{{{MAM_NS}}}fin")
                last = fin.find(f"{{{RSM_NS}}}set/{{{RSM_NS}}}last") if fin is not None else None
                if fin is None or fin.get("complete") in ("true", "1") or last is None or not batch:
                    break
                after = last.text
        finally:
            self.remove_handler(handler)
        return {"event": "muc_history", "room": room.jid, "messages": out}

    # --- main loop --------------------------------------------------------

    async def run(self) -> int:
        self.connect(self.args.host, self.args.port)
        try:
            info = await asyncio.wait_for(asyncio.shield(self.online), self.args.connect_timeout)
        except asyncio.TimeoutError:
            emit({"event": "error", "reason": f"not online after {self.args.connect_timeout} s"})
            return 2
        except RuntimeError as e:
            emit({"event": "error", "reason": str(e)})
            return 2
        emit(info)
        start_stdin_reader(asyncio.get_event_loop(), self.queue)
        while True:
            kind, item = await self.queue.get()
            if kind == "stanza":
                try:
                    await self.handle_stanza(item)
                except Exception as e:  # noqa: BLE001
                    log.exception("incoming stanza failed")
                    emit({"event": "error", "reason": f"incoming stanza: {type(e).__name__}: {e}"})
            elif kind == "line":
                if item is None or not await self.handle_command(item):
                    break
        try:
            await asyncio.wait_for(self.disconnect(wait=2.0), 5)
        except Exception:  # noqa: BLE001
            pass
        return 0


def start_stdin_reader(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(queue.put_nowait, ("line", line))
        loop.call_soon_threadsafe(queue.put_nowait, ("line", None))  # EOF: quit

    threading.Thread(target=read, name="stdin", daemon=True).start()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="STARTTLS port")
    p.add_argument("--ca-file", required=True, help="PEM: the only CA the server certificate may chain to")
    p.add_argument("--storage", required=True, help="JSON file for the OMEMO state (created if missing)")
    p.add_argument("--namespaces", default="old,two", help="comma-separated: old (0.3), two (:2)")
    p.add_argument("--trust", choices=["blind", "manual"], default="blind")
    p.add_argument("--resource", default=f"peer-{os.getpid()}")
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    tags = [t.strip() for t in args.namespaces.split(",") if t.strip()]
    if not tags or any(t not in NS_BY_TAG for t in tags):
        p.error("--namespaces takes old, two or old,two")
    args.namespaces = tags
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        p.error("the test peer talks to loopback only")
    return args


async def amain(args: argparse.Namespace) -> int:
    bot = Bot(args)
    return await bot.run()


def main() -> None:
    args = parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=f"%(asctime)s {args.jid} %(name)s %(levelname)s %(message)s",
    )
    try:
        code = asyncio.run(amain(args))
    except Exception as e:  # noqa: BLE001
        log.exception("fatal")
        emit({"event": "error", "reason": f"fatal: {type(e).__name__}: {e}"})
        code = 3
    sys.stderr.flush()
    os._exit(code)  # do not wait for the stdin thread


if __name__ == "__main__":
    main()
