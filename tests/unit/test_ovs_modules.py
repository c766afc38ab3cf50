"""The openvswitch role's modules: OVSDB JSON in, ovs-vsctl commands out.

The modules' decisions are pure functions, exercised here directly. The OVSDB documents
below were printed by ovs-vsctl 3.1 (Debian bookworm) on a lab node; the real ovs-vsctl
path runs in roles/openvswitch/molecule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rolecode import load_module

if TYPE_CHECKING:
    from types import ModuleType

ROLE = Path(__file__).resolve().parents[2] / "roles" / "openvswitch"




ovsdb = load_module(ROLE / "module_utils" / "taco_ovsdb.py", "ansible.module_utils.taco_ovsdb")
bridge_mod = load_module(ROLE / "library" / "ovs_bridge.py", "taco_test_ovs_bridge")
port_mod = load_module(ROLE / "library" / "ovs_port.py", "taco_test_ovs_port")
# The shared helpers, tested once (through the name the modules import them by).
SHARED = pytest.mark.parametrize("mod", [ovsdb], ids=["taco_ovsdb"])

# `ovs-vsctl --format=json --data=json --columns=... list Bridge -- ... list Port -- ... list
# Interface` after: add-br br-ex (netdev, external_ids, other_config), add-port vA tag=10,
# add-bond bond0 vB vC, add-port patch-x (type patch, options:peer).
OVS_TABLES = "\n".join([
    '{"data":[["br-ex",["set",[["uuid","08a5"],["uuid","3306"],["uuid","6ce7"],["uuid","c4b3"]]]]],'
    '"headings":["name","ports"]}',
    '{"data":[[["uuid","c4b3"],"patch-x",["uuid","0235"],["set",[]],["set",[]],["set",[]],'
    '["map",[]],["map",[]]],'
    '[["uuid","6ce7"],"vA",["uuid","8dcd"],10,["set",[]],["set",[]],["map",[]],["map",[]]],'
    '[["uuid","08a5"],"br-ex",["uuid","8b93"],["set",[]],["set",[]],["set",[]],["map",[]],'
    '["map",[]]],'
    '[["uuid","3306"],"bond0",["set",[["uuid","b637"],["uuid","f08f"]]],["set",[]],'
    '"active-backup",["set",[]],["map",[["taco","yes"]]],["map",[]]]],'
    '"headings":["_uuid","name","interfaces","tag","bond_mode","lacp","external_ids",'
    '"other_config"]}',
    '{"data":[[["uuid","8b93"],"br-ex","internal",["map",[]]],'
    '[["uuid","0235"],"patch-x","patch",["map",[["peer","patch-y"]]]],'
    '[["uuid","8dcd"],"vA","",["map",[]]],[["uuid","f08f"],"vB","",["map",[]]],'
    '[["uuid","b637"],"vC","",["map",[]]]],"headings":["_uuid","name","type","options"]}',
    "",
])
# `... list Bridge` with br-ex (netdev) and br-int (kernel datapath, fail_mode secure).
BRIDGE_TABLE = (
    '{"data":[["br-ex","netdev",["set",[]],["map",[["bridge-id","br-ex"]]],'
    '["map",[["x","a:b,c"]]]],["br-int","","secure",["map",[]],["map",[]]]],'
    '"headings":["name","datapath_type","fail_mode","external_ids","other_config"]}\n'
)


# --- OVSDB JSON helpers (identical in both modules) ---------------------------------------

@SHARED
def test_decode_datum_turns_ovsdb_json_into_python(mod: ModuleType) -> None:
    assert mod.decode_datum(["set", []]) == []
    assert mod.decode_datum(["set", [["uuid", "a"], ["uuid", "b"]]]) == ["a", "b"]
    assert mod.decode_datum(["map", [["k", "v"], ["n", 1]]]) == {"k": "v", "n": 1}
    assert mod.decode_datum(["uuid", "8dcd"]) == "8dcd"
    assert mod.decode_datum("netdev") == "netdev"
    assert mod.decode_datum(10) == 10


@SHARED
def test_parse_tables_reads_one_document_per_command(mod: ModuleType) -> None:
    bridges, ports, interfaces = mod.parse_tables(OVS_TABLES)
    assert [row["name"] for row in bridges] == ["br-ex"]
    assert len(bridges[0]["ports"]) == 4
    assert {row["name"] for row in ports} == {"patch-x", "vA", "br-ex", "bond0"}
    # A one-element set comes back as the bare element; the modules widen it themselves.
    assert ports[1]["interfaces"] == "8dcd"
    assert interfaces[1]["options"] == {"peer": "patch-y"}
    assert mod.parse_tables("") == []


@SHARED
@pytest.mark.parametrize(("raw", "literal"), [
    ("netdev", '"netdev"'),
    ("a:b,c=d", '"a:b,c=d"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    (7, '"7"'),
])
def test_quote_makes_an_ovsdb_string_literal(mod: ModuleType, raw: object, literal: str) -> None:
    assert mod.quote(raw) == literal


@SHARED
def test_map_commands_touch_only_the_keys_given(mod: ModuleType) -> None:
    current = {"bridge-id": "br-ex", "neutron": "keep", "stale": "x"}
    assert mod.map_commands("Bridge", "br-ex", "external_ids", current,
                            {"bridge-id": "br-ex", "stale": None, "mtu": 9000}) == [
        ["set", "Bridge", "br-ex", 'external_ids:"mtu"="9000"'],
        ["remove", "Bridge", "br-ex", "external_ids", '"stale"'],
    ]
    assert mod.map_commands("Bridge", "br-ex", "external_ids", current, None) == []
    assert mod.map_commands("Bridge", "br-ex", "external_ids", current, {"gone": None}) == []


@SHARED
def test_transaction_joins_commands_with_separators(mod: ModuleType) -> None:
    assert mod.transaction([["add-br", "b"], ["set", "Bridge", "b", "x=1"]]) == [
        "add-br", "b", "--", "set", "Bridge", "b", "x=1"]
    assert mod.transaction([]) == []


# --- ovs_bridge -----------------------------------------------------------------------------

def _bridge(**overrides: Any) -> dict[str, Any]:
    desired: dict[str, Any] = {"name": "br-ex", "state": "present", "datapath_type": None,
                               "fail_mode": None, "external_ids": None, "other_config": None}
    desired.update(overrides)
    return desired


def test_find_bridge_normalises_the_row() -> None:
    tables = bridge_mod.parse_tables(BRIDGE_TABLE)
    assert bridge_mod.find_bridge(tables, "br-ex") == {
        "name": "br-ex", "datapath_type": "netdev", "fail_mode": None,
        "external_ids": {"bridge-id": "br-ex"}, "other_config": {"x": "a:b,c"}}
    # OVS leaves datapath_type empty for the kernel datapath.
    assert bridge_mod.find_bridge(tables, "br-int")["datapath_type"] == "system"
    assert bridge_mod.find_bridge(tables, "br-int")["fail_mode"] == "secure"
    assert bridge_mod.find_bridge(tables, "br-nope") is None


def test_new_bridge_is_created_with_its_columns() -> None:
    desired = _bridge(datapath_type="netdev", fail_mode="standalone",
                      external_ids={"bridge-id": "br-ex"})
    assert bridge_mod.plan_bridge(desired, None) == [
        ["add-br", "br-ex"],
        ["set", "Bridge", "br-ex", 'datapath_type="netdev"', 'fail_mode="standalone"'],
        ["set", "Bridge", "br-ex", 'external_ids:"bridge-id"="br-ex"'],
    ]


def test_converged_bridge_needs_nothing() -> None:
    current = bridge_mod.find_bridge(bridge_mod.parse_tables(BRIDGE_TABLE), "br-ex")
    desired = _bridge(datapath_type="netdev", external_ids={"bridge-id": "br-ex"},
                      other_config={"x": "a:b,c"})
    assert bridge_mod.plan_bridge(desired, current) == []


def test_only_the_differing_columns_change() -> None:
    current = bridge_mod.find_bridge(bridge_mod.parse_tables(BRIDGE_TABLE), "br-int")
    # fail_mode not given: the Neutron agent's "secure" stays.
    desired = _bridge(name="br-int", datapath_type="netdev", external_ids={"bridge-id": "br-int"})
    assert bridge_mod.plan_bridge(desired, current) == [
        ["set", "Bridge", "br-int", 'datapath_type="netdev"'],
        ["set", "Bridge", "br-int", 'external_ids:"bridge-id"="br-int"'],
    ]
    # "system" asked, "" stored: the same datapath.
    assert bridge_mod.plan_bridge(_bridge(name="br-int", datapath_type="system"), current) == []


def test_absent_bridge_is_deleted_once() -> None:
    current = bridge_mod.find_bridge(bridge_mod.parse_tables(BRIDGE_TABLE), "br-ex")
    assert bridge_mod.plan_bridge(_bridge(state="absent"), current) == [["del-br", "br-ex"]]
    assert bridge_mod.plan_bridge(_bridge(state="absent"), None) == []
    assert bridge_mod.predict_bridge(_bridge(state="absent"), current) == {}


_keys = st.sampled_from(["bridge-id", "a", "b", "c:d"])
_values = st.text(alphabet="abc:=,\" ", max_size=4)
_maps = st.dictionaries(_keys, _values, max_size=3)
_desired_maps = st.none() | st.dictionaries(_keys, st.none() | _values | st.integers(0, 9),
                                            max_size=3)
_current_bridges = st.none() | st.builds(
    lambda dp, fm, ext, oc: {"name": "br-ex", "datapath_type": dp, "fail_mode": fm,
                             "external_ids": ext, "other_config": oc},
    st.sampled_from(["system", "netdev"]), st.sampled_from([None, "secure", "standalone"]),
    _maps, _maps)
_desired_bridges = st.builds(
    lambda state, dp, fm, ext, oc: _bridge(state=state, datapath_type=dp, fail_mode=fm,
                                           external_ids=ext, other_config=oc),
    st.sampled_from(["present", "absent"]), st.sampled_from([None, "system", "netdev"]),
    st.sampled_from([None, "secure", "standalone"]), _desired_maps, _desired_maps)


@given(desired=_desired_bridges, current=_current_bridges)
def test_bridge_plan_converges(desired: dict[str, Any], current: dict[str, Any] | None) -> None:
    """After the planned commands nothing is left to do, and no plan means no change."""
    after = bridge_mod.predict_bridge(desired, current)
    assert bridge_mod.plan_bridge(desired, after or None) == []
    if not bridge_mod.plan_bridge(desired, current):
        assert after == (current or {})


# --- ovs_port -------------------------------------------------------------------------------

def _views() -> dict[str, dict[str, Any]]:
    return port_mod.port_views(port_mod.parse_tables(OVS_TABLES))  # type: ignore[no-any-return]


def _port(**overrides: Any) -> dict[str, Any]:
    desired: dict[str, Any] = {
        "bridge": "br-ex", "name": "eth2", "state": "present", "bond_members": None,
        "bond_mode": None, "lacp": None, "type": None, "options": None, "tag": None,
        "external_ids": None, "other_config": None}
    desired.update(overrides)
    return desired


def test_port_views_join_the_three_tables() -> None:
    views = _views()
    assert views["bond0"] == {
        "bridge": "br-ex", "name": "bond0", "interfaces": ["vB", "vC"], "type": None,
        "options": {}, "tag": None, "bond_mode": "active-backup", "lacp": None,
        "external_ids": {"taco": "yes"}, "other_config": {}}
    assert views["vA"]["tag"] == 10
    assert views["vA"]["type"] == "system"
    assert views["patch-x"]["type"] == "patch"
    assert views["patch-x"]["options"] == {"peer": "patch-y"}
    assert port_mod.interface_owners(views)["vC"] == "bond0"


def test_new_plain_port() -> None:
    assert port_mod.plan_port(_port(tag=80), _views()) == [
        ["add-port", "br-ex", "eth2"], ["set", "Port", "eth2", "tag=80"]]


def test_new_bond() -> None:
    desired = _port(name="bond1", bond_members=["eth2", "eth1"], bond_mode="balance-tcp",
                    lacp="active")
    assert port_mod.plan_port(desired, _views()) == [
        ["add-bond", "br-ex", "bond1", "eth2", "eth1"],
        ["set", "Port", "bond1", 'bond_mode="balance-tcp"', 'lacp="active"']]


def test_converged_ports_need_nothing() -> None:
    views = _views()
    assert port_mod.plan_port(_port(name="vA", tag=10, type="system"), views) == []
    assert port_mod.plan_port(_port(name="bond0", bond_members=["vC", "vB"],
                                    bond_mode="active-backup"), views) == []
    assert port_mod.plan_port(_port(name="patch-x", type="patch",
                                    options={"peer": "patch-y"}), views) == []


def test_new_member_replaces_the_bond_in_one_transaction() -> None:
    desired = _port(name="bond0", bond_members=["vB", "vC", "vD"], bond_mode="active-backup")
    assert port_mod.plan_port(desired, _views()) == [
        ["del-port", "br-ex", "bond0"],
        ["add-bond", "br-ex", "bond0", "vB", "vC", "vD"],
        ["set", "Port", "bond0", 'bond_mode="active-backup"']]


def test_port_moves_to_the_bridge_asked() -> None:
    assert port_mod.plan_port(_port(name="vA", bridge="br-prov"), _views()) == [
        ["del-port", "br-ex", "vA"], ["add-port", "br-prov", "vA"]]


def test_tag_zero_clears_and_other_columns_stay() -> None:
    views = _views()
    assert port_mod.plan_port(_port(name="vA", tag=0), views) == [["clear", "Port", "vA", "tag"]]
    assert port_mod.plan_port(_port(name="vA", tag=20), views) == [
        ["set", "Port", "vA", "tag=20"]]
    assert port_mod.plan_port(_port(name="patch-x", options={"peer": "patch-z"}), views) == [
        ["set", "Interface", "patch-x", 'options:"peer"="patch-z"']]
    assert port_mod.plan_port(_port(name="vA", type="internal"), views) == [
        ["set", "Interface", "vA", 'type="internal"']]


def test_absent_port_is_deleted_from_its_bridge_only() -> None:
    views = _views()
    assert port_mod.plan_port(_port(name="vA", state="absent"), views) == [
        ["del-port", "br-ex", "vA"]]
    assert port_mod.plan_port(_port(name="vA", state="absent", bridge="br-other"), views) == []
    assert port_mod.plan_port(_port(name="nope", state="absent"), views) == []


@pytest.mark.parametrize(("desired", "message"), [
    (_port(name="bond1", bond_members=["eth1"]), "at least two distinct members"),
    (_port(name="bond1", bond_members=["eth1", "eth1"]), "at least two distinct members"),
    (_port(bond_mode="active-backup"), "apply to bonds only"),
    (_port(lacp="active"), "apply to bonds only"),
    (_port(name="bond1", bond_members=["eth1", "eth2"], type="internal"), "plain ports"),
    (_port(tag=4096), "outside 0-4095"),
    # vB is in bond0: taking it would break a bond the run did not ask about.
    (_port(name="bond1", bond_members=["vB", "eth9"]), "ovs-vsctl del-port br-ex bond0"),
    (_port(name="bond1", bond_members=["vA", "eth9"]), "interface vA already belongs to port vA"),
])
def test_port_refusals_say_why_and_how(desired: dict[str, Any], message: str) -> None:
    with pytest.raises(port_mod.PlanError, match=message):
        port_mod.plan_port(desired, _views())


_port_names = st.sampled_from(["vA", "bond0", "patch-x", "eth2", "bond1"])
_members = st.none() | st.lists(st.sampled_from(["eth5", "eth6", "eth7"]), min_size=2,
                                max_size=3, unique=True)


@st.composite
def _desired_ports(draw: st.DrawFn) -> dict[str, Any]:
    members = draw(_members)
    bond = members is not None
    return _port(
        name=draw(_port_names), bridge=draw(st.sampled_from(["br-ex", "br-prov"])),
        state=draw(st.sampled_from(["present", "absent"])), bond_members=members,
        bond_mode=draw(st.sampled_from([None, "active-backup", "balance-slb"])) if bond else None,
        lacp=draw(st.sampled_from([None, "active", "off"])) if bond else None,
        type=None if bond else draw(st.sampled_from([None, "system", "internal", "patch"])),
        options=None if bond else draw(_desired_maps),
        tag=draw(st.none() | st.integers(0, 4095)),
        external_ids=draw(_desired_maps), other_config=draw(_desired_maps))


@given(desired=_desired_ports())
def test_port_plan_converges(desired: dict[str, Any]) -> None:
    """After the planned commands nothing is left to do, and no plan means no change."""
    views = _views()
    after = port_mod.predict_port(desired, views)
    settled = {name: view for name, view in views.items() if name != desired["name"]}
    if after:
        settled[desired["name"]] = after
    assert port_mod.plan_port(desired, settled) == []
    if not port_mod.plan_port(desired, views):
        assert after == views.get(desired["name"], {})


def test_captured_document_is_valid_json() -> None:
    """Guards the fixture itself: each line is one ovs-vsctl document."""
    assert all(json.loads(line)["headings"] for line in OVS_TABLES.splitlines() if line)


@SHARED
def test_optional_columns_unwrap_zero_or_one_element(mod: ModuleType) -> None:
    assert mod.optional([]) is None
    assert mod.optional(["secure"]) == "secure"
    assert mod.optional("secure") == "secure"
    assert mod.optional(10) == 10
