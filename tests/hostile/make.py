#!/usr/bin/env python3
"""Writes tests/hostile/json-cases.json: hostile and careless canonical-JSON submissions, each
with the exact error code and place the hub must answer with.

The cases are mutations of a good report, made the way careless clerks and attackers make
them (a field dropped, a wrong type, a made-up code, a date out of the world, markup, broken
JSON). Run it again after changing it; the test reads the file it writes:

    python3 tests/hostile/make.py
"""
import copy
import json
import os

EVENT = {
    "kind": "event", "discovered_at": "2026-10-08 10:00", "category": "ddos", "grade": "general", "provinces": ["GD"],
    "content": {"unit_overview": "某IDC机房", "occurred_at": "2026-10-08 09:00", "summary": "流量攻击", "impact": "链路拥塞",
                "measures": "已清洗"},
}
WARNING = {
    "kind": "warning", "discovered_at": "2026-10-08 10:00", "category": "vulnerability", "level": 4, "provinces": ["GD"],
    "content": {"description": "某漏洞", "potential_harm": "远程代码执行", "affected_scope": "部分用户", "aware_parties": "本单位",
                "recommendations": "升级补丁"},
}
BOTNET = {
    "kind": "botnet_event", "discovered_at": "2026-10-08 10:00", "provinces": ["GD"],
    "content": {"botnets": [{"cc_ip": "203.0.113.7", "port": 6667, "bot_count": 100, "bot_ips": ["198.51.100.1"]}]},
}

cases = []


def case(name, body, *expected):
    """`body`: a Python value (sent as JSON), or bytes sent as they are."""
    entry = {"name": name, "expected": [{"code": c, "place": p} for c, p in expected]}
    if isinstance(body, bytes):
        entry["hex"] = body.hex()
    else:
        entry["json"] = body
    cases.append(entry)


def with_(base, path, value):
    doc = copy.deepcopy(base)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def without(base, path):
    doc = copy.deepcopy(base)
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc


def pointer(path):
    return "/" + "/".join(str(p) for p in path)


# Broken JSON: the place is the line and column, which the test checks by its prefix "第".
for i, raw in enumerate([
    b"", b"{", b"[", b"{\"kind\":", b"{\"kind\": \"event\",}", b"[1, 2,", b"{'kind': 'event'}", b"NaN", b"tru",
    b"\"unterminated", b"{\"a\": 1}}", b"// a comment\n{}", b"{\"kind\": \"event\"\x00}", b"\xff\xfe{\x00}\x00",
    b"\xc3\x28", b"[" * 10_000, b"{\"a\":" * 5_000, b"1e999999", b"{\"kind\": \"event\" \"grade\": 1}", b"\xef\xbb\xbf",
    b"<report><kind>event</kind></report>", b"kind=event&grade=major", b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
    b"PK\x03\x04garbage", b"{\"kind\": \"\xe4\xb8\"}",
]):
    case(f"not-json-{i:02}", raw, ("not_json", "第"))

# Not a report: scalars at the top, non-objects in a batch, an empty batch, too many.
for i, v in enumerate([1, "event", True, 3.14]):
    case(f"not-object-top-{i}", v, ("not_object", ""))
for i, v in enumerate([1, "x", None, [EVENT], True]):
    case(f"not-object-in-batch-{i}", [EVENT, v], ("not_object", "/1"))
case("empty-batch", [], ("empty_batch", ""))
cases.append({"name": "too-many", "repeat": {"json": EVENT, "times": 10_001}, "expected": [{"code": "too_many", "place": ""}]})

# The report kind.
for i, k in enumerate(["foo", "evnt", "events2", "botnet", "warning_x", "../../etc/passwd", "<script>alert(1)</script>", "%00",
                       "0", "null", "DROP TABLE reports", "事件x"]):
    case(f"unknown-kind-{i:02}", with_(EVENT, ["kind"], k), ("unknown_kind", "/kind"))
for i, k in enumerate([5, True, [], {}]):
    case(f"kind-wrong-type-{i}", with_(EVENT, ["kind"], k), ("wrong_type", "/kind"))
case("kind-missing", without(EVENT, ["kind"]), ("missing_field", "/kind"))

# Required fields dropped, per kind.
for path in [["discovered_at"], ["category"], ["grade"], ["content"], ["content", "unit_overview"], ["content", "occurred_at"],
             ["content", "summary"], ["content", "impact"], ["content", "measures"]]:
    case("event-missing-" + "-".join(path), without(EVENT, path), ("missing_field", pointer(path)))
for path in [["discovered_at"], ["category"], ["level"], ["provinces"]]:
    case("warning-missing-" + "-".join(path), without(WARNING, path), ("missing_field", pointer(path)))
for path in [["content", "botnets", 0, "cc_ip"]]:
    case("botnet-missing-" + "-".join(map(str, path)), without(BOTNET, path), ("missing_field", pointer(path)))

# Provinces given as nothing, where leaving them out is refused.
for i, v in enumerate([[], "", "  ", None]):
    code = "missing_field" if v is None else "empty_text"
    case(f"event-provinces-empty-{i}", with_(EVENT, ["provinces"], v), (code, "/provinces"))
    case(f"warning-provinces-empty-{i}", with_(WARNING, ["provinces"], v), (code, "/provinces"))

# Empty texts.
for field in ["unit_overview", "summary", "impact", "measures"]:
    for j, v in enumerate(["", "   ", "\u3000", "\n\t"]):
        case(f"event-empty-{field}-{j}", with_(EVENT, ["content", field], v), ("empty_text", f"/content/{field}"))

# Times out of the world or not times at all.
for i, t in enumerate(["yesterday", "2026-13-01 10:00", "2026-02-30 10:00", "2026-10-08 25:00", "0001-01-01T00:00:00Z",
                       "1900-01-01 10:00", "9999-12-31 23:59", "2099-01-01 10:00", "2026-10-08T10:00:00+25:00", "10:00",
                       "NaN", "Infinity", "2026/10/32", "二〇二六年十月", "1999-12-31 23:59"]):
    case(f"bad-discovered-at-{i:02}", with_(EVENT, ["discovered_at"], t), ("bad_time", "/discovered_at"))
case("occurred-after-discovered", with_(EVENT, ["content", "occurred_at"], "2026-10-08 11:00"), ("bad_time", "/content/occurred_at"))

# Codes that are no codes.
for i, g in enumerate(["huge", "5", "critical", "-1", "Ⅴ级", "五级", "<b>重大</b>", "general; DROP TABLE", "0", "large-ish"]):
    case(f"bad-grade-{i}", with_(EVENT, ["grade"], g), ("bad_grade", "/grade"))
for i, c in enumerate(["zzzz", "qwerty", "!!!", "0000", "x" * 300, "<img src=x onerror=alert(1)>"]):
    case(f"bad-category-{i}", with_(EVENT, ["category"], c), ("bad_category", "/category"))
for i, p in enumerate(["XX", "ZZ", "火星", "Atlantis", "99", "東京都"]):
    case(f"bad-province-{i}", with_(EVENT, ["provinces"], [p]), ("bad_province", "/provinces/0"))
for i, lv in enumerate([0, 5, 99, -1, "red-ish", "五级"]):
    case(f"bad-level-{i}", with_(WARNING, ["level"], lv), ("bad_level", "/level"))

# Fields that do not belong.
for i, k in enumerate(["foo", "__proto__", "constructor", "Kind", "grade ", "unit_code", "报告类型", "$where"]):
    case(f"unknown-field-{i}", with_(EVENT, [k], 1), ("unknown_field", "/" + k))
case("unknown-content-field", with_(EVENT, ["content", "payload"], "x"), ("unknown_field", "/content/payload"))
case("level-on-event", with_(EVENT, ["level"], 3), ("not_applicable", "/level"))
case("grade-on-warning", with_(WARNING, ["grade"], "major"), ("not_applicable", "/grade"))

# Wrong types.
for i, v in enumerate(["x", 1, [], True]):
    case(f"content-wrong-type-{i}", with_(EVENT, ["content"], v), ("wrong_type", "/content"))
for i, v in enumerate(["yes", 1, [], {}]):
    case(f"cross-province-wrong-type-{i}", with_(EVENT, ["cross_province"], v), ("wrong_type", "/cross_province"))
    case(f"suspected-crime-wrong-type-{i}", with_(EVENT, ["suspected_crime"], v), ("wrong_type", "/suspected_crime"))
for i, v in enumerate([5, True, {}]):
    case(f"provinces-wrong-type-{i}", with_(EVENT, ["provinces"], v), ("wrong_type", "/provinces"))
    case(f"province-item-wrong-type-{i}", with_(EVENT, ["provinces"], ["GD", v]), ("wrong_type", "/provinces/1"))

# Botnet addresses and ports.
for i, ip in enumerate(["999.1.1.1", "abc", "1.2.3", "::g", "203.0.113.7/24", "0x7f.1", "203.0.113.7 ; rm -rf /"]):
    case(f"bad-cc-ip-{i}", with_(BOTNET, ["content", "botnets", 0, "cc_ip"], ip), ("bad_ip", "/content/botnets/0/cc_ip"))
for i, port in enumerate([0, 65536, -1, 70000]):
    case(f"bad-port-{i}", with_(BOTNET, ["content", "botnets", 0, "port"], port), ("bad_port", "/content/botnets/0/port"))
for i, port in enumerate(["http", True, [6667]]):
    case(f"port-wrong-type-{i}", with_(BOTNET, ["content", "botnets", 0, "port"], port), ("wrong_type", "/content/botnets/0/port"))
for i, ip in enumerate(["1.2.3.999", "not-an-ip", "2001:db8::zz"]):
    case(f"bad-bot-ip-{i}", with_(BOTNET, ["content", "botnets", 0, "bot_ips"], ["198.51.100.1", ip]),
         ("bad_ip", "/content/botnets/0/bot_ips/1"))

# References and identity.
for i, ref in enumerate(["not-a-uuid", "1", "' OR 1=1 --"]):
    case(f"bad-follows-up-{i}", with_(EVENT, ["follows_up"], ref), ("bad_id", "/follows_up"))
case("unknown-follows-up", with_(EVENT, ["follows_up"], "0192f3c4-0000-7000-8000-000000000001"), ("unknown_reference", "/follows_up"))
case("another-unit", with_(EVENT, ["unit"], "IDC-BJ"), ("foreign_unit", "/unit"))
for i, code in enumerate(["bad code!!", "", "<x>"]):
    case(f"bad-unit-code-{i}", with_(EVENT, ["unit"], code), ("bad_unit_code", "/unit"))

# Contact details go into mail headers and pages: one line each, a phone that is a phone.
CONTACT = {"kind": "contact_update", "discovered_at": "2026-10-08 10:00",
           "content": {"contacts": [{"role": "contact", "name": "李四", "phone": "020-12345678"}]}}
case("contact-name-with-crlf", with_(CONTACT, ["content", "contacts", 0, "name"], "李四\r\nBcc: victim@example.com"),
     ("wrong_type", "/content/contacts/0/name"))
case("contact-name-with-line-separator", with_(CONTACT, ["content", "contacts", 0, "name"], "李四\u2028值班"),
     ("wrong_type", "/content/contacts/0/name"))
case("contact-name-turned-around", with_(CONTACT, ["content", "contacts", 0, "name"], "李四\u202egnp.exe"),
     ("wrong_type", "/content/contacts/0/name"))
case("contact-phone-free-text", with_(CONTACT, ["content", "contacts", 0, "phone"], "请致电 http://evil.example/verify"),
     ("wrong_type", "/content/contacts/0/phone"))
case("botnet-discovered-after-receipt", with_(with_(BOTNET, ["content", "botnets", 0, "discovered_at"], "2099-01-01 00:00"), ["discovered_at"],
     "2026-10-08 10:00"), ("bad_time", "/content/botnets/0/discovered_at"))

# In a batch, each bad report is refused at its own index; the good ones go through.
case("batch-mixed", [EVENT, with_(EVENT, ["grade"], "huge"), WARNING, with_(WARNING, ["level"], 9)],
     ("bad_grade", "/1/grade"), ("bad_level", "/3/level"))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "json-cases.json")
with open(out, "w", encoding="utf-8") as f:
    f.write('{"cases": [\n' + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]}\n")
print(f"{len(cases)} cases written to {out}")
