"""The stand-ins' building blocks, in process: PKI, JSONPath, selectors, sealing, config shapes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

from standin import jsonpath, kubeadm_config, pki, seal, selectors, tokens


def test_certificates_verify_with_openssl(tmp_path: Path) -> None:
    ca_key, ca = pki.new_ca("kubernetes")
    _, server = pki.new_leaf(ca_key, ca, "kube-apiserver", server=True,
                             sans=["kubernetes", "10.96.0.1", "fd00::1"])
    node_key = pki.Key.generate()
    request = pki.read_request(pki.certificate_request(node_key, "system:node:n1",
                                                       ("system:nodes",)))
    client = pki.sign_request(request, ca_key, ca)
    (tmp_path / "ca.crt").write_text(ca.pem())
    for name, cert in (("server", server), ("client", client)):
        (tmp_path / f"{name}.crt").write_text(cert.pem())
        checked = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"),
                                  str(tmp_path / f"{name}.crt")], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, checked.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(tmp_path / "server.crt")], capture_output=True, text=True,
                          check=True).stdout
    assert "DNS:kubernetes, IP Address:10.96.0.1, IP Address:FD00:0:0:0:0:0:0:1" in text
    assert client.subject == {"O": ["system:nodes"], "CN": ["system:node:n1"]}
    pubkey = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in",
                             str(tmp_path / "ca.crt")], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pubkey,
                         capture_output=True, check=True).stdout
    assert ca.spki_sha256() == "sha256:" + hashlib.sha256(der).hexdigest()


def test_tampered_request_is_refused() -> None:
    key = pki.Key.generate()
    text = pki.certificate_request(key, "system:node:n1", ("system:nodes",))
    _, der = pki.pem_decode(text, ("CERTIFICATE REQUEST",))
    index = der.find(b"system:node:n1")
    forged = der[:index] + b"system:node:n2" + der[index + len(b"system:node:n1"):]
    with pytest.raises(ValueError, match="signature does not verify"):
        pki.read_request(pki.pem_encode("CERTIFICATE REQUEST", forged))


@pytest.mark.parametrize(("template", "expected"), [
    ("{.items[*].metadata.name}", "a b"),
    ('{.items[?(@.metadata.name=="b")].status.phase}', "Pending"),
    ('{range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}', "a=Running\nb=Pending\n"),
    ("{.items[0].metadata.labels.kubernetes\\.io/os}", "linux"),
    ("{.items[0].metadata.labels['kubernetes.io/os']}", "linux"),
    ("{.items[-1].metadata.name}", "b"),
    ("{.items[5].metadata.name}", ""),
])
def test_jsonpath(template: str, expected: str) -> None:
    data = {"items": [
        {"metadata": {"name": "a", "labels": {"kubernetes.io/os": "linux"}},
         "status": {"phase": "Running"}},
        {"metadata": {"name": "b"}, "status": {"phase": "Pending"}}]}
    assert jsonpath.evaluate(template, data) == expected


def test_label_selectors() -> None:
    wanted = selectors.parse_label_selector("app in (a,b),tier!=db,!legacy,zone")
    assert selectors.labels_match(wanted, {"app": "a", "tier": "web", "zone": "1"})
    assert not selectors.labels_match(wanted, {"app": "c", "zone": "1"})
    assert not selectors.labels_match(wanted, {"app": "a", "zone": "1", "legacy": ""})


def test_uploaded_certificates_need_the_key() -> None:
    key = "ab" * 32
    sealed = seal.seal(key, b"-----BEGIN EC PRIVATE KEY-----")
    assert seal.unseal(key, sealed) == b"-----BEGIN EC PRIVATE KEY-----"
    with pytest.raises(ValueError, match="message authentication failed"):
        seal.unseal("cd" * 32, sealed)


def test_tokens_and_signatures() -> None:
    token = tokens.generate()
    assert tokens.TOKEN.match(token)
    token_id, secret = token.split(".")
    signature = tokens.sign("payload", token_id, secret)
    assert tokens.verify("payload", signature, token_id, secret)
    assert not tokens.verify("tampered", signature, token_id, secret)
    assert tokens.parse_duration("1h30m").total_seconds() == 5400
    with pytest.raises(ValueError, match="invalid duration"):
        tokens.parse_duration("90 minutes")


def test_extra_args_in_v1beta3_shape_are_a_decoding_error() -> None:
    with pytest.raises(kubeadm_config.ConfigError) as caught:
        kubeadm_config.parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
                             "apiServer:\n  extraArgs:\n    authorization-mode: Node,RBAC\n"
                             "networking: {podSubnet: 10.244.0.0/16}\n"
                             "networking: {podSubnet: 10.245.0.0/16}\n", "c.yaml")
    assert 'mapping key "networking" already defined' in str(caught.value)
    with pytest.raises(kubeadm_config.ConfigError) as caught:
        kubeadm_config.parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
                             "apiServer:\n  extraArgs:\n    authorization-mode: Node,RBAC\n",
                             "c.yaml")
    assert "of type []v1beta4.Arg" in str(caught.value)
