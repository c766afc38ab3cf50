"""Real X.509 certificates and keys (ECDSA P-256) in pure Python, for the stand-in cluster.

The node image has no openssl command and no third-party Python modules, and the stand-ins
must not need any. So the few pieces of DER, ECDSA and PEM a kubeadm-style PKI needs are
here. The output is ordinary: OpenSSL (and Python's ssl module) load and verify it, and TLS
between the stand-ins uses it for real. Not constant-time, not for anything but tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass

# -- the curve ------------------------------------------------------------------------

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)

Point = tuple[int, int] | None


def _add(first: Point, second: Point) -> Point:
    if first is None:
        return second
    if second is None:
        return first
    x1, y1 = first
    x2, y2 = second
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _multiply(scalar: int, point: Point) -> Point:
    result: Point = None
    addend = point
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    return result


def _on_curve(point: tuple[int, int]) -> bool:
    x, y = point
    return (y * y - (x * x * x + A * x + B)) % P == 0


# -- DER ------------------------------------------------------------------------------


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def der_int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, raw)


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def bit_string(data: bytes, unused: int = 0) -> bytes:
    return tlv(0x03, bytes([unused]) + data)


def _time(moment: dt.datetime) -> bytes:
    if moment.year < 2050:
        return tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def parse(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """One DER element at offset: (tag, content, offset after it)."""
    tag = data[offset]
    size = data[offset + 1]
    offset += 2
    if size & 0x80:
        count = size & 0x7F
        size = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    return tag, data[offset:offset + size], offset + size


def children(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """The elements inside a constructed value: (tag, content, the element's full DER)."""
    found = []
    offset = 0
    while offset < len(content):
        start = offset
        tag, inner, offset = parse(content, offset)
        found.append((tag, inner, content[start:offset]))
    return found


OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_CN = "2.5.4.3"
OID_O = "2.5.4.10"
OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
_NAME_OIDS = {OID_CN: "CN", OID_O: "O"}


def _oid_text(content: bytes) -> str:
    first = content[0]
    arcs = [first // 40, first % 40]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(arc) for arc in arcs)


# -- keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """An ECDSA P-256 private key."""

    secret: int

    @classmethod
    def generate(cls) -> Key:
        return cls(secrets.randbelow(N - 1) + 1)

    @property
    def public(self) -> tuple[int, int]:
        point = _multiply(self.secret, G)
        assert point is not None
        return point

    def public_point_bytes(self) -> bytes:
        x, y = self.public
        return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")

    def spki(self) -> bytes:
        return spki_for(self.public_point_bytes())

    def sign(self, message: bytes) -> bytes:
        digest = int.from_bytes(hashlib.sha256(message).digest(), "big")
        while True:
            nonce = secrets.randbelow(N - 1) + 1
            point = _multiply(nonce, G)
            assert point is not None
            r = point[0] % N
            s = pow(nonce, -1, N) * (digest + r * self.secret) % N
            if r and s:
                return seq(der_int(r), der_int(s))

    def pem(self) -> str:
        body = seq(
            der_int(1),
            tlv(0x04, self.secret.to_bytes(32, "big")),
            tlv(0xA0, oid(OID_P256)),
            tlv(0xA1, bit_string(self.public_point_bytes())),
        )
        return pem_encode("EC PRIVATE KEY", body)

    def public_pem(self) -> str:
        return pem_encode("PUBLIC KEY", self.spki())

    @classmethod
    def from_pem(cls, text: str) -> Key:
        _, body = pem_decode(text, ("EC PRIVATE KEY",))
        _, content, _ = parse(body)
        parts = children(content)
        return cls(int.from_bytes(parts[1][1], "big"))


def spki_for(point: bytes) -> bytes:
    algorithm = seq(oid(OID_EC_PUBLIC_KEY), oid(OID_P256))
    return seq(algorithm, bit_string(point))


def verify(point_bytes: bytes, message: bytes, signature: bytes) -> bool:
    """Check an ECDSA-SHA256 signature made with the P-256 key whose point is given."""
    if len(point_bytes) != 65 or point_bytes[0] != 4:
        return False
    public = (int.from_bytes(point_bytes[1:33], "big"), int.from_bytes(point_bytes[33:], "big"))
    if not _on_curve(public):
        return False
    try:
        _, content, _ = parse(signature)
        r_der, s_der = children(content)[:2]
    except (IndexError, ValueError):
        return False
    r = int.from_bytes(r_der[1], "big")
    s = int.from_bytes(s_der[1], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    digest = int.from_bytes(hashlib.sha256(message).digest(), "big")
    inverse = pow(s, -1, N)
    point = _add(_multiply(digest * inverse % N, G), _multiply(r * inverse % N, public))
    return point is not None and point[0] % N == r


# -- PEM ------------------------------------------------------------------------------


def pem_encode(label: str, der: bytes) -> str:
    text = base64.b64encode(der).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def pem_decode(text: str, labels: tuple[str, ...]) -> tuple[str, bytes]:
    """The first PEM block with one of the labels: (label, DER)."""
    for label in labels:
        begin = f"-----BEGIN {label}-----"
        start = text.find(begin)
        if start < 0:
            continue
        end = text.find(f"-----END {label}-----", start)
        if end < 0:
            break
        body = "".join(text[start + len(begin):end].split())
        return label, base64.b64decode(body)
    raise ValueError(f"no PEM block of type {' or '.join(labels)}")


# -- names, certificates, requests ---------------------------------------------------


def name(common_name: str, organizations: tuple[str, ...] = ()) -> bytes:
    """An X.509 Name with O= entries first, then CN=, as kubeadm writes them."""
    entries = [(OID_O, org) for org in organizations] + [(OID_CN, common_name)]
    return seq(*(tlv(0x31, seq(oid(kind), tlv(0x0C, value.encode()))) for kind, value in entries))


def read_name(der: bytes) -> dict[str, list[str]]:
    _, content, _ = parse(der)
    result: dict[str, list[str]] = {}
    for _, rdn, _ in children(content):
        for _, attribute, _ in children(rdn):
            kind, value = children(attribute)[:2]
            label = _NAME_OIDS.get(_oid_text(kind[1]), _oid_text(kind[1]))
            result.setdefault(label, []).append(value[1].decode())
    return result


def _extension(identifier: str, value: bytes, critical: bool = False) -> bytes:
    flag = tlv(0x01, b"\xff") if critical else b""
    return seq(oid(identifier), flag, tlv(0x04, value))


def _key_usage(bits: tuple[int, ...]) -> bytes:
    value = 0
    for bit in bits:
        value |= 0x80 >> bit
    unused = (value & -value).bit_length() - 1 if value else 0
    return bit_string(bytes([value]), unused)


def _sans(names: list[str]) -> bytes:
    encoded = []
    for entry in names:
        try:
            address = ipaddress.ip_address(entry)
        except ValueError:
            encoded.append(tlv(0x82, entry.encode()))
        else:
            encoded.append(tlv(0x87, address.packed))
    return seq(*encoded)


@dataclass(frozen=True)
class Certificate:
    der: bytes
    tbs: bytes
    subject_der: bytes
    spki_der: bytes
    not_after: dt.datetime

    @property
    def subject(self) -> dict[str, list[str]]:
        return read_name(self.subject_der)

    @property
    def public_point(self) -> bytes:
        _, content, _ = parse(self.spki_der)
        _, bits, _ = children(content)[1]
        return bits[1:]

    def pem(self) -> str:
        return pem_encode("CERTIFICATE", self.der)

    def spki_sha256(self) -> str:
        """The pin kubeadm prints as --discovery-token-ca-cert-hash."""
        return "sha256:" + hashlib.sha256(self.spki_der).hexdigest()

    @classmethod
    def from_pem(cls, text: str) -> Certificate:
        _, der = pem_decode(text, ("CERTIFICATE",))
        _, content, _ = parse(der)
        _, tbs_content, tbs_der = children(content)[0]
        fields = children(tbs_content)
        if fields[0][0] == 0xA0:  # explicit version
            fields = fields[1:]
        # serial, signature algorithm, issuer, validity, subject, subject public key info
        validity = children(fields[3][1])
        return cls(der=der, tbs=tbs_der, subject_der=fields[4][2], spki_der=fields[5][2],
                   not_after=_read_time(validity[1][0], validity[1][1]))


def _read_time(tag: int, content: bytes) -> dt.datetime:
    text = content.decode()
    layout = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
    return dt.datetime.strptime(text, layout).replace(tzinfo=dt.UTC)


def issue(
    *,
    subject: bytes,
    spki_der: bytes,
    signer: Key,
    issuer: Certificate | None,
    days: int,
    ca: bool = False,
    server: bool = False,
    client: bool = False,
    sans: list[str] | None = None,
) -> Certificate:
    """Sign a certificate; issuer None makes it self-signed (a CA's own certificate)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    algorithm = seq(oid(OID_ECDSA_SHA256))
    key_id = hashlib.sha1(spki_der).digest()
    extensions = [
        _extension("2.5.29.15", _key_usage((0, 2, 5) if ca else (0, 2)), critical=True),
        _extension("2.5.29.19", seq(tlv(0x01, b"\xff")) if ca else seq(), critical=True),
    ]
    usages = ([oid(OID_SERVER_AUTH)] if server else []) + ([oid(OID_CLIENT_AUTH)] if client else [])
    if usages:
        extensions.append(_extension("2.5.29.37", seq(*usages)))
    if ca:
        extensions.append(_extension("2.5.29.14", tlv(0x04, key_id)))
    if issuer is not None:
        authority = hashlib.sha1(issuer.spki_der).digest()
        extensions.append(_extension("2.5.29.35", seq(tlv(0x80, authority))))
    if sans:
        extensions.append(_extension("2.5.29.17", _sans(sans)))
    tbs = seq(
        tlv(0xA0, der_int(2)),
        der_int(secrets.randbits(120) | 1 << 119),
        algorithm,
        issuer.subject_der if issuer else subject,
        seq(_time(now - dt.timedelta(minutes=5)), _time(now + dt.timedelta(days=days))),
        subject,
        spki_der,
        tlv(0xA3, seq(*extensions)),
    )
    der = seq(tbs, algorithm, bit_string(signer.sign(tbs)))
    return Certificate.from_pem(pem_encode("CERTIFICATE", der))


def new_ca(common_name: str, days: int = 3650) -> tuple[Key, Certificate]:
    key = Key.generate()
    cert = issue(subject=name(common_name), spki_der=key.spki(), signer=key, issuer=None,
                 days=days, ca=True)
    return key, cert


def new_leaf(
    ca_key: Key,
    ca_cert: Certificate,
    common_name: str,
    organizations: tuple[str, ...] = (),
    *,
    server: bool = False,
    client: bool = False,
    sans: list[str] | None = None,
    days: int = 365,
) -> tuple[Key, Certificate]:
    key = Key.generate()
    cert = issue(subject=name(common_name, organizations), spki_der=key.spki(), signer=ca_key,
                 issuer=ca_cert, days=days, server=server, client=client, sans=sans)
    return key, cert


def certificate_request(key: Key, common_name: str, organizations: tuple[str, ...]) -> str:
    """A PKCS#10 request, as a kubelet sends for its client certificate."""
    info = seq(der_int(0), name(common_name, organizations), key.spki(), tlv(0xA0, b""))
    algorithm = seq(oid(OID_ECDSA_SHA256))
    return pem_encode("CERTIFICATE REQUEST", seq(info, algorithm, bit_string(key.sign(info))))


@dataclass(frozen=True)
class Request:
    subject: dict[str, list[str]]
    subject_der: bytes
    spki_der: bytes


def read_request(text: str) -> Request:
    """Parse a PKCS#10 request and check its signature; ValueError when it is not valid."""
    try:
        _, der = pem_decode(text, ("CERTIFICATE REQUEST",))
        _, content, _ = parse(der)
        (_, info_content, info_der), _, (_, signature_bits, _) = children(content)[:3]
        fields = children(info_content)
        subject_der, spki_der = fields[1][2], fields[2][2]
        _, spki_content, _ = parse(spki_der)
        algorithm, key_bits = children(spki_content)[:2]
        curve = [_oid_text(part[1]) for part in children(algorithm[1])]
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a PEM certificate request: {exc}") from None
    if curve != [OID_EC_PUBLIC_KEY, OID_P256]:
        raise ValueError("only ECDSA P-256 requests are supported by the stand-in signer")
    if not verify(key_bits[1][1:], info_der, signature_bits[1:]):
        raise ValueError("the request's signature does not verify")
    return Request(subject=read_name(subject_der), subject_der=subject_der, spki_der=spki_der)


def sign_request(request: Request, ca_key: Key, ca_cert: Certificate,
                 days: int = 365) -> Certificate:
    return issue(subject=request.subject_der, spki_der=request.spki_der, signer=ca_key,
                 issuer=ca_cert, days=days, client=True)
